//! Benchmarks of the workspace's crates live in `benches/`; this library holds shared helpers.
#![forbid(unsafe_code)]
