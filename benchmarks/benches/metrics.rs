//! What the `metrics` feature costs a fresh hit: run once without the feature and once
//! with it, and compare the same ids.
//!
//! ```text
//! cargo bench -p benchmarks --bench metrics                      # off
//! cargo bench -p benchmarks --bench metrics --features metrics   # on
//! ```
//!
//! With the feature on, two caches are read in the same process: one built before a
//! recorder was installed (its handles do nothing) and one built after (metrics-util's
//! debugging recorder, whose counters are atomics as a Prometheus exporter's are).
//! Without the feature both ids measure the same code, which shows the noise.
//!
//! On a shared machine the noise is larger than the difference; instruction counts
//! are not noisy: `BENCH_PROFILE=no-recorder|recorder [BENCH_PROFILE_ITERS=n]` runs
//! only `n` hits of that cache, no criterion, for `valgrind --tool=callgrind`, whose
//! counts of two runs with different `n` give instructions per hit.

use std::hint::black_box;
use std::sync::Arc;

use async_cache_runtime::Cache;
use criterion::{Criterion, Throughput};

const KEYS: usize = 1_000;

type Value = Arc<str>;

fn locators() -> Vec<String> {
    (0..KEYS).map(|i| format!("things/{i}")).collect()
}

async fn warmed(cache: &Cache, locators: &[String]) {
    for locator in locators {
        let value: Value = Arc::from(locator.as_str());
        cache.fetch(locator, 1_u64, || async move { value }).await;
    }
}

async fn hits(cache: &Cache, locators: &[String], iters: u64) -> std::time::Duration {
    let start = std::time::Instant::now();
    for i in 0..iters as usize {
        let locator = &locators[i % KEYS];
        let value: Value = cache
            .fetch(locator, 1_u64, || async { unreachable!("warmed") })
            .await;
        black_box(value);
    }
    start.elapsed()
}

fn main() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    let locators = locators();
    let before = Cache::new();
    metrics_util::debugging::DebuggingRecorder::new()
        .install()
        .expect("the first recorder of this process");
    let after = Cache::new();
    rt.block_on(warmed(&before, &locators));
    rt.block_on(warmed(&after, &locators));

    if let Ok(id) = std::env::var("BENCH_PROFILE") {
        let cache = match id.as_str() {
            "no-recorder" => &before,
            "recorder" => &after,
            other => panic!("BENCH_PROFILE: no cache {other:?}"),
        };
        let iters = benchmarks::profile_iters();
        let elapsed = rt.block_on(hits(cache, &locators, iters));
        eprintln!("{id}: {iters} hits in {elapsed:?}");
        return;
    }
    let feature = if cfg!(feature = "metrics") {
        "on"
    } else {
        "off"
    };
    let mut c = Criterion::default().configure_from_args();
    let mut group = c.benchmark_group(format!("hit/metrics-{feature}"));
    group.throughput(Throughput::Elements(1));
    for (id, cache) in [("no-recorder", &before), ("recorder", &after)] {
        group.bench_function(id, |b| {
            b.iter_custom(|iters| rt.block_on(hits(cache, &locators, iters)));
        });
    }
    group.finish();
    c.final_summary();
}
