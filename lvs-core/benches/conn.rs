//! Connection table benchmarks (filled in below).
fn main() {}
