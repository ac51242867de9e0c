//! The ACD state machine (being written).
