//! Contract §2.7 (crate docs): bounded refresh concurrency and queue, and bounded memory.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};

use async_cache_runtime::{Cache, FetchOptions, Served};
use common::{Counter, Gate, within};

async fn seed(cache: &Cache, locators: &[&str]) {
    for locator in locators {
        cache.fetch(*locator, 1, || async { "v1" }).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_worker_serves_stale_and_drops_the_refresh() {
    let cache = Cache::builder()
        .refresh_concurrency(1)
        .refresh_queue_capacity(1)
        .build();
    seed(&cache, &["a", "b", "c"]).await;
    let (started, release) = (Gate::new(), Gate::new());
    let runs = Counter::new();
    let held = |runs: &Counter| {
        let (started, release, runs) = (started.clone(), release.clone(), runs.clone());
        move || async move {
            runs.bump();
            started.open();
            release.wait().await;
            "v2"
        }
    };
    assert_eq!(cache.fetch("a", 2, held(&runs)).await, "v1"); // running
    within("a's refresh start", started.wait()).await;
    assert_eq!(cache.fetch("b", 2, held(&runs)).await, "v1"); // queued
    let (value, served) = cache
        .fetch_served("c", 2, FetchOptions::new(), held(&runs))
        .await;
    assert_eq!(
        (value, served),
        ("v1", Served::Stale),
        "dropped, still served"
    );
    assert_eq!(cache.stats().refreshes_dropped, 1);
    release.open();
    within("refreshes", cache.wait_for_refreshes()).await;
    assert_eq!(runs.get(), 2);
    // A later stale read of the dropped one tries again.
    assert_eq!(cache.fetch("c", 2, held(&runs)).await, "v1");
    within("retry", cache.wait_for_refreshes()).await;
    assert_eq!(cache.fetch("c", 2, || async { "never" }).await, "v2");
    let stats = cache.stats();
    assert_eq!((stats.refreshes_started, stats.refreshes_completed), (3, 3));
}

// Paused time on one thread: the refreshes are all scheduled before any of them runs,
// and each holds its place for the same virtual time, so the bound alone decides how
// many overlap, however loaded the machine.
#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn refreshes_run_at_most_refresh_concurrency_at_once() {
    const LOCATORS: usize = 12;
    let cache = Cache::builder().refresh_concurrency(3).build();
    let names: Vec<String> = (0..LOCATORS).map(|i| format!("k{i}")).collect();
    for name in &names {
        cache.fetch(name, 1, || async { 0 }).await;
    }
    let running = Arc::new(AtomicUsize::new(0));
    let peak = Arc::new(AtomicUsize::new(0));
    for name in &names {
        let (running, peak) = (running.clone(), peak.clone());
        cache
            .fetch(name, 2, move || async move {
                let now = running.fetch_add(1, SeqCst) + 1;
                peak.fetch_max(now, SeqCst);
                tokio::time::sleep(std::time::Duration::from_millis(20)).await;
                running.fetch_sub(1, SeqCst);
                2
            })
            .await;
    }
    within("refreshes", cache.wait_for_refreshes()).await;
    assert_eq!(peak.load(SeqCst), 3);
    assert_eq!(cache.stats().refreshes_completed, LOCATORS as u64);
    for name in &names {
        assert_eq!(cache.fetch(name, 2, || async { -1 }).await, 2);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_is_bounded_by_max_capacity() {
    let cache = Cache::builder().max_capacity(100).build();
    for i in 0..2_000 {
        cache
            .fetch(format!("k{i}"), 1, || async { [0_u8; 64] })
            .await;
    }
    let runs = Counter::new();
    for i in 0..2_000 {
        let runs = runs.clone();
        cache
            .fetch(format!("k{i}"), 1, move || async move {
                runs.bump();
                [0_u8; 64]
            })
            .await;
    }
    // At most 100 of the first pass can still be there (fewer while moka settles).
    assert!(runs.get() >= 1_900, "only {} regenerated", runs.get());
}
