//! Placeholder until this crate's benchmarks land: the physical floor, a copy of 60 bytes.
#![allow(missing_docs)]
use criterion::{black_box, criterion_group, criterion_main, Criterion};

fn copy_floor(c: &mut Criterion) {
    let frame = [0x5au8; 60];
    c.bench_function("copy_60_bytes", |b| b.iter(|| black_box(black_box(frame).to_vec())));
}

criterion_group!(benches, copy_floor);
criterion_main!(benches);
