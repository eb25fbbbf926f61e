//! Benches land with the benchmarks issue.
