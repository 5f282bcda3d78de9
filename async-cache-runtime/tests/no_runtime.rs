//! Contract §1 (crate docs), "worker available": outside tokio there is no worker and
//! stale entries are regenerated in the caller; a builder runtime serves any caller
//! until it shuts down.

mod common;

use async_cache_runtime::{Cache, FetchOptions, Served};
use futures_executor::block_on;

fn served(cache: &Cache, version: u32, value: &'static str) -> (&'static str, Served) {
    block_on(cache.fetch_served(
        "k",
        version,
        FetchOptions::new(),
        move || async move { value },
    ))
}

#[test]
fn outside_tokio_stale_entries_are_regenerated_in_the_caller() {
    let cache = Cache::new();
    assert_eq!(served(&cache, 1, "v1"), ("v1", Served::Miss));
    assert_eq!(served(&cache, 1, "never"), ("v1", Served::Hit));
    assert_eq!(served(&cache, 2, "v2"), ("v2", Served::Sync));
    block_on(cache.wait_for_refreshes());
    let stats = cache.stats();
    assert_eq!((stats.sync_refreshes, stats.refreshes_started), (1, 0));
}

#[test]
fn outside_tokio_misses_still_coalesce_across_threads() {
    const THREADS: usize = 8;
    let cache = Cache::new();
    let runs = common::Counter::new();
    let arrivals = common::Arrivals::new();
    std::thread::scope(|scope| {
        for _ in 0..THREADS {
            let (cache, runs, arrivals) = (cache.clone(), runs.clone(), arrivals.clone());
            scope.spawn(move || {
                let waiting = arrivals.clone();
                let fetch = cache.fetch("k", 1, move || async move {
                    runs.bump();
                    // The generation lasts until every other thread waits on it.
                    waiting.wait_for_blocking(THREADS - 1);
                    7
                });
                block_on(common::parked(fetch, &arrivals))
            });
        }
    });
    assert_eq!(runs.get(), 1);
    let stats = cache.stats();
    assert_eq!(
        (stats.misses, stats.hits),
        (THREADS as u64, 0),
        "every thread was served by the one generation: {stats:?}"
    );
}

#[test]
fn a_builder_runtime_refreshes_for_callers_outside_tokio() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let cache = Cache::builder().runtime(runtime.handle().clone()).build();
    assert_eq!(served(&cache, 1, "v1"), ("v1", Served::Miss));
    assert_eq!(served(&cache, 2, "v2"), ("v1", Served::Stale));
    block_on(cache.wait_for_refreshes());
    assert_eq!(served(&cache, 2, "never"), ("v2", Served::Hit));
    assert_eq!(cache.stats().refreshes_completed, 1);
}

#[test]
fn once_the_builder_runtime_shuts_down_the_caller_regenerates() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .build()
        .unwrap();
    let cache = Cache::builder().runtime(runtime.handle().clone()).build();
    assert_eq!(served(&cache, 1, "v1"), ("v1", Served::Miss));
    // Dropping a runtime waits for its workers, which drop every task.
    drop(runtime);
    assert_eq!(served(&cache, 2, "v2"), ("v2", Served::Sync));
    assert_eq!(cache.stats().refreshes_started, 0);
}
