//! Erlang C and Erlang A (being written).
