//! Scale: hit cost at 1k, 100k and 1M entries and a few value sizes, ours against the
//! raw moka it is built on (same hasher, same random order); and bytes per entry
//! over raw moka, counted by this binary's global allocator.
//!
//! `cargo bench -p benchmarks --bench scale`

use criterion::{Criterion, Throughput};
use test_support::CountingAllocator;

#[global_allocator]
static ALLOC: CountingAllocator = CountingAllocator::paused();

fn hits(c: &mut Criterion) {
    let rt = benchmarks::current_thread();
    let mut group = c.benchmark_group("scale");
    group.throughput(Throughput::Elements(1));
    for n in [1_000, 100_000, 1_000_000] {
        for bytes in [16, 256, 4096] {
            if n == 1_000_000 && bytes == 4096 {
                continue; // 4 GB of values
            }
            let scale = rt.block_on(benchmarks::Scale::new(n, bytes));
            group.bench_function(format!("ours/{n}/{bytes}B"), |b| {
                b.iter_custom(|iters| rt.block_on(scale.ours_hits(iters, 0)));
            });
            group.bench_function(format!("moka_sync_foldhash/{n}/{bytes}B"), |b| {
                b.iter_custom(|iters| scale.moka_hits(iters, 0));
            });
        }
    }
    group.finish();
}

fn main() {
    let mut c = Criterion::default().configure_from_args();
    hits(&mut c);
    c.final_summary();
    if !std::env::args().any(|a| a == "--test" || a == "--list") {
        println!(
            "\nbytes per entry (live heap), values of {} B:",
            benchmarks::VALUE_BYTES
        );
        for n in [10_000, 100_000] {
            let (ours, moka, expiry) = benchmarks::bytes_per_entry(&ALLOC, n);
            println!(
                "{n:>7} entries: ours {ours:.0} B, raw moka {moka:.0} B (+{:.0} B); \
                 moka with an expiry policy and ours' slot layout {expiry:.0} B",
                ours - moka
            );
        }
    }
}
