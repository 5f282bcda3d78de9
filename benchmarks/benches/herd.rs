//! Herds: 10,000 concurrent callers of one missing and of one stale locator, ours
//! against `cached` (LRU + TTL, its "stale" being a TTL that just expired) with and
//! without `sync_writes`. Criterion times the herd's wall time (until every caller has
//! its value); the generator runs are printed, as they are the point.
//!
//! `cargo bench -p benchmarks --bench herd`

use std::time::Duration;
use test_support::CountingAllocator;

use benchmarks::Herd;
use criterion::Criterion;

#[global_allocator]
static ALLOC: CountingAllocator = CountingAllocator::paused();

fn herds(c: &mut Criterion) {
    let rt = benchmarks::multi_thread(2);
    let cache = async_cache_runtime::Cache::builder()
        .max_capacity(benchmarks::CAPACITY)
        .build();
    let mut group = c.benchmark_group("herd");
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(3));
    let mut runs = Vec::new();
    for which in Herd::ALL {
        let mut most = 0;
        group.bench_function(which.id(), |b| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    let result = rt.block_on(benchmarks::herd(which, &cache));
                    most = most.max(result.runs);
                    total += result.wall;
                }
                total
            });
        });
        runs.push((which, most));
    }
    group.finish();
    println!(
        "\ngenerator runs per herd of {} callers (most seen):",
        benchmarks::HERD
    );
    for (which, most) in runs {
        println!("{:<40} {most}", which.name());
    }
}

fn main() {
    let mut c = Criterion::default().configure_from_args();
    herds(&mut c);
    c.final_summary();
}
