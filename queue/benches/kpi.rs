//! KPI benchmarks (being written).

fn main() {}
