//! KPIs over call records (being written).
