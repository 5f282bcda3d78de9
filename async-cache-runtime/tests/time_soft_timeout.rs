//! Contract §6.3, soft timeouts, with tokio's paused clock: a slow generation with a
//! fallback answers at the timeout and goes on, counted as a refresh, and lands.

mod common;

use std::time::Duration;

use async_cache_runtime::{Cache, FetchOptions, Served};
use common::{Counter, Gate, within};
use tokio::time::{Instant, sleep};

const SOFT: Duration = Duration::from_millis(100);
const SLOW: Duration = Duration::from_secs(1);

/// No worker, so an outdated entry is regenerated in the caller, where the soft
/// timeout applies.
fn cache() -> Cache {
    Cache::builder()
        .refresh_concurrency(0)
        .soft_timeout(SOFT)
        .build()
}

fn slow(
    runs: &Counter,
    value: &'static str,
) -> impl FnOnce() -> std::pin::Pin<Box<dyn std::future::Future<Output = &'static str> + Send>>
+ Send
+ use<> {
    let runs = runs.clone();
    move || {
        runs.bump();
        Box::pin(async move {
            sleep(SLOW).await;
            value
        })
    }
}

#[tokio::test(start_paused = true)]
async fn a_slow_generation_with_a_fallback_answers_at_the_timeout_and_lands_later() {
    let cache = cache();
    cache.fetch("k", 1_u64, || async { "v1" }).await;
    let runs = Counter::new();
    let start = Instant::now();
    let answer = cache
        .fetch_served("k", 2_u64, FetchOptions::new(), slow(&runs, "v2"))
        .await;
    assert_eq!(answer, ("v1", Served::FailSafe));
    assert_eq!(
        start.elapsed(),
        SOFT,
        "answered at the soft timeout, exactly"
    );
    let stats = cache.stats();
    assert_eq!(
        (
            stats.soft_timeouts,
            stats.fail_safe_hits,
            stats.refreshes_started
        ),
        (1, 1, 1)
    );
    within("the continuation", cache.wait_for_refreshes()).await;
    assert_eq!(start.elapsed(), SLOW, "wait_for_refreshes waited for it");
    assert_eq!(cache.stats().refreshes_completed, 1);
    let (value, served) = cache
        .fetch_served("k", 2_u64, FetchOptions::new(), || async { "not run" })
        .await;
    assert_eq!(
        (value, served),
        ("v2", Served::Hit),
        "its result was stored"
    );
    assert_eq!(runs.get(), 1);
}

#[tokio::test(start_paused = true)]
async fn no_second_generation_starts_while_it_goes_on() {
    let cache = cache();
    cache.fetch("k", 1_u64, || async { "v1" }).await;
    let runs = Counter::new();
    assert_eq!(
        cache
            .fetch_served("k", 2_u64, FetchOptions::new(), slow(&runs, "v2"))
            .await
            .1,
        Served::FailSafe
    );
    // Same version: joins it, and is answered by its own soft timeout.
    let start = Instant::now();
    let joined = cache
        .fetch_served("k", 2_u64, FetchOptions::new(), slow(&runs, "again"))
        .await;
    assert_eq!(joined, ("v1", Served::FailSafe));
    assert_eq!(start.elapsed(), SOFT);
    assert_eq!(runs.get(), 1, "joined, not run again");
    cache.wait_for_refreshes().await;
    assert_eq!(cache.fetch("k", 2_u64, || async { "not run" }).await, "v2");
}

#[tokio::test(start_paused = true)]
async fn force_sync_and_true_misses_wait_for_the_generation() {
    let cache = cache();
    cache.fetch("k", 1_u64, || async { "v1" }).await;
    let runs = Counter::new();
    let start = Instant::now();
    let forced = cache
        .fetch_served(
            "k",
            2_u64,
            FetchOptions::new().force_sync(true),
            slow(&runs, "v2"),
        )
        .await;
    assert_eq!(
        forced,
        ("v2", Served::Sync),
        "force_sync asked for the latest"
    );
    assert_eq!(start.elapsed(), SLOW);
    let start = Instant::now();
    let miss = cache
        .fetch_served("absent", 1_u64, FetchOptions::new(), slow(&runs, "made"))
        .await;
    assert_eq!(miss, ("made", Served::Miss), "no fallback: it waits");
    assert_eq!(start.elapsed(), SLOW);
    assert_eq!(cache.stats().soft_timeouts, 0);
}

#[tokio::test(start_paused = true)]
async fn a_continuation_that_fails_keeps_the_old_entry() {
    let cache = cache();
    cache.fetch("k", 1_u64, || async { "v1" }).await;
    let gate = Gate::new();
    let held = gate.clone();
    let answer = cache
        .try_fetch_served("k", 2_u64, FetchOptions::new(), move || async move {
            held.wait().await;
            Err::<&str, _>("down")
        })
        .await;
    assert_eq!(answer, Ok(("v1", Served::FailSafe)));
    gate.open();
    cache.wait_for_refreshes().await;
    let stats = cache.stats();
    assert_eq!((stats.refreshes_started, stats.refreshes_failed), (1, 1));
    let again = cache
        .fetch_served("k", 1_u64, FetchOptions::new(), || async { "not run" })
        .await;
    assert_eq!(again, ("v1", Served::Hit), "the old entry stayed");
}
