//! The stale path: reads of an outdated entry while its 100 ms refresh runs, against
//! fresh hits of the same locators (p50/p99 from a histogram); and the reads right
//! after a version bump, ours (stale served at once) against `cached` whose TTL has
//! just expired (its callers wait for the generator).
//!
//! `cargo bench -p benchmarks --bench stale`

use std::time::Duration;
use test_support::CountingAllocator;

use criterion::Criterion;

#[global_allocator]
static ALLOC: CountingAllocator = CountingAllocator::paused();

fn pct(h: &hdrhistogram::Histogram<u64>, q: f64) -> u64 {
    h.value_at_quantile(q)
}

/// Criterion's view: the mean latency of a stale read with its refresh in flight, and
/// of a fresh hit of the same locators, one `Instant` per read (each iteration is one
/// round: bump, 80 ms of stale reads, the refresh, as many fresh reads).
fn stale_reads(c: &mut Criterion) {
    let rt = benchmarks::multi_thread(2);
    let keys = benchmarks::locators(benchmarks::STALE_KEYS);
    let cache = benchmarks::stale_cache();
    rt.block_on(benchmarks::fill_stale_cache(&cache, &keys));
    let mut group = c.benchmark_group("stale");
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(5));
    let mut version = 1;
    let mut mean_of = |stale: bool, iters: u64| {
        let mut total = Duration::ZERO;
        for _ in 0..iters {
            let round = rt.block_on(benchmarks::stale_round(&cache, &keys, version));
            version += 1;
            let h = if stale { &round.stale } else { &round.fresh };
            total += Duration::from_nanos(h.mean() as u64);
        }
        total
    };
    group.bench_function("stale_read_while_refreshing", |b| {
        b.iter_custom(|iters| mean_of(true, iters));
    });
    group.bench_function("fresh_hit", |b| {
        b.iter_custom(|iters| mean_of(false, iters));
    });
    group.finish();
}

/// The percentiles, interleaved rounds, printed as a table.
fn percentiles() {
    let rt = benchmarks::multi_thread(2);
    let keys = benchmarks::locators(benchmarks::STALE_KEYS);
    let cache = benchmarks::stale_cache();
    let mut fresh = benchmarks::histogram();
    let mut stale = benchmarks::histogram();
    let mut bump = benchmarks::histogram();
    let mut ours_after = benchmarks::histogram();
    let mut cached_after = benchmarks::histogram();
    rt.block_on(async {
        benchmarks::fill_stale_cache(&cache, &keys).await;
        let mut version = 1_000_000;
        for _ in 0..10 {
            let round = benchmarks::stale_round(&cache, &keys, version).await;
            version += 1;
            fresh.add(&round.fresh).expect("same bounds");
            stale.add(&round.stale).expect("same bounds");
            bump.add(&round.bump).expect("same bounds");
        }
        for _ in 0..5 {
            version += 1;
            ours_after
                .add(&benchmarks::ours_after_bump(&cache, &keys, version).await)
                .expect("same bounds");
            cached_after
                .add(&benchmarks::cached_after_expiry(&keys).await)
                .expect("same bounds");
        }
    });
    println!(
        "\nstale path latencies (ns), {} locators:",
        benchmarks::STALE_KEYS
    );
    println!(
        "{:<58} {:>10} {:>10} {:>10}",
        "reads", "p50", "p99", "count"
    );
    for (name, h) in [
        ("fresh hit", &fresh),
        ("stale read, refresh running", &stale),
        ("first read after a version bump (schedules)", &bump),
        ("right after a bump, all at once: ours (stale)", &ours_after),
        ("right after TTL expiry, all at once: cached", &cached_after),
    ] {
        println!(
            "{name:<58} {:>10} {:>10} {:>10}",
            pct(h, 0.5),
            pct(h, 0.99),
            h.len()
        );
    }
    println!(
        "stale p99 / fresh p99 = {:.2}",
        pct(&stale, 0.99) as f64 / pct(&fresh, 0.99) as f64
    );
}

fn main() {
    let mut c = Criterion::default().configure_from_args();
    stale_reads(&mut c);
    c.final_summary();
    // Skipped under `cargo test --benches` (criterion's test mode).
    if !std::env::args().any(|a| a == "--test" || a == "--list") {
        percentiles();
    }
}
