//! Task overhead on the threads scheduler with fusion off: the three graphs of
//! `examples/tasks` (tree, chain, wide), each task run as its own task actor.

use criterion::{criterion_main, Criterion, Throughput};
use partita::prelude::*;

#[path = "../examples/tasks/graphs.rs"]
mod graphs;

fn tasks(c: &mut Criterion) {
    let rt = Runtime::builder()
        .fuse(false)
        .build()
        .expect("runtime starts");
    let mut group = c.benchmark_group("tasks");
    group.sample_size(10);

    let (tree, n) = graphs::tree(100_000, 16);
    group.throughput(Throughput::Elements(n as u64));
    group.bench_function("tree_100k_fanin16", |b| {
        b.iter(|| assert_eq!(rt.install(|| tree.compute()).unwrap(), 5_000_050_000))
    });

    let (chain, n) = graphs::chain(10_000);
    group.throughput(Throughput::Elements(n as u64));
    group.bench_function("chain_10k", |b| {
        b.iter(|| assert_eq!(rt.install(|| chain.compute()).unwrap(), 10_000))
    });

    let wide = graphs::wide(100_000);
    group.throughput(Throughput::Elements(wide.len() as u64));
    group.bench_function("wide_100k", |b| {
        b.iter(|| assert_eq!(rt.install(|| compute_all(&wide)).unwrap().len(), 100_000))
    });

    group.bench_function("build_tree_100k", |b| b.iter(|| graphs::tree(100_000, 16)));
    group.finish();
}

#[allow(missing_docs, unreachable_pub)]
mod group {
    criterion::criterion_group!(benches, super::tasks);
}
criterion_main!(group::benches);
