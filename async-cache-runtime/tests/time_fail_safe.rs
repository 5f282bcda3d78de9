//! Contract §6.2, fail-safe, with tokio's paused clock: what a fallback is, how long
//! it is kept, how the throttle opens and closes, and how each answer is counted.

mod common;

use std::time::Duration;

use async_cache_runtime::{Cache, FetchOptions, Served, Stats};
use common::{Counter, quiet_planned_panics};
use tokio::time::advance;

const SECOND: Duration = Duration::from_secs(1);
const MS: Duration = Duration::from_millis(1);

/// A generation that fails with `Err`, counted.
async fn failing(
    cache: &Cache,
    version: u64,
    options: FetchOptions,
    runs: &Counter,
) -> Result<(&'static str, Served), String> {
    let runs = runs.clone();
    cache
        .try_fetch_served("k", version, options, move || async move {
            runs.bump();
            Err::<&'static str, _>("backend down".to_string())
        })
        .await
}

fn forced() -> FetchOptions {
    FetchOptions::new().force_sync(true)
}

#[tokio::test(start_paused = true)]
async fn an_outdated_entry_answers_a_failed_generation_counted_once() {
    let cache = Cache::builder().fail_safe(60 * SECOND).build();
    cache.fetch("k", 1_u64, || async { "v1" }).await;
    let runs = Counter::new();
    let answer = failing(&cache, 2, forced(), &runs).await;
    assert_eq!(answer, Ok(("v1", Served::FailSafe)));
    let stats = cache.stats();
    assert_eq!(
        (stats.fail_safe_hits, stats.sync_refreshes, stats.misses),
        (1, 0, 1),
        "counted in fail_safe_hits only (the miss is the first fetch)"
    );
    assert_eq!(runs.get(), 1);
}

#[tokio::test(start_paused = true)]
async fn a_panic_is_answered_by_the_fallback_too() {
    quiet_planned_panics();
    let cache = Cache::builder().fail_safe(60 * SECOND).build();
    cache.fetch("k", 1_u64, || async { "v1" }).await;
    let (value, served) = cache
        .fetch_served("k", 2_u64, forced(), || async { panic!("planned panic") })
        .await;
    assert_eq!((value, served), ("v1", Served::FailSafe));
}

/// Written with `expires_in(10 s)` and `fail_safe(20 s)`: served to 10 s, a fallback
/// from 10 s to 30 s (exclusive), gone from 30 s.
#[tokio::test(start_paused = true)]
async fn an_expired_entry_is_a_fallback_for_its_fail_safe_window() {
    let cache = Cache::builder()
        .expires_in(10 * SECOND)
        .fail_safe(20 * SECOND)
        .fail_safe_throttle(MS)
        .build();
    cache.fetch("k", 1_u64, || async { "v1" }).await;
    let runs = Counter::new();
    advance(10 * SECOND).await;
    assert_eq!(
        failing(&cache, 1, FetchOptions::new(), &runs).await,
        Ok(("v1", Served::FailSafe))
    );
    advance(20 * SECOND - 2 * MS).await;
    assert_eq!(
        failing(&cache, 1, FetchOptions::new(), &runs).await,
        Ok(("v1", Served::FailSafe))
    );
    advance(2 * MS).await;
    assert_eq!(
        failing(&cache, 1, FetchOptions::new(), &runs).await,
        Err("backend down".to_string()),
        "past the window: a true miss, the error reaches the caller"
    );
    assert_eq!(runs.get(), 3);
}

#[tokio::test(start_paused = true)]
async fn without_fail_safe_errors_reach_the_caller_and_expired_entries_are_misses() {
    let cache = Cache::builder().expires_in(10 * SECOND).build();
    cache.fetch("k", 1_u64, || async { "v1" }).await;
    let runs = Counter::new();
    assert_eq!(
        failing(&cache, 2, forced(), &runs).await,
        Err("backend down".into())
    );
    advance(10 * SECOND).await;
    assert_eq!(
        failing(&cache, 1, FetchOptions::new(), &runs).await,
        Err("backend down".into())
    );
    // A call uses a fallback only if its own fail-safe is set, whoever wrote it.
    let opted_in = FetchOptions::new().force_sync(true).fail_safe(SECOND);
    cache.fetch("j", 1_u64, || async { "j1" }).await;
    let answer = cache
        .try_fetch_served("j", 2_u64, opted_in, || async { Err::<&str, _>("down") })
        .await;
    assert_eq!(answer, Ok(("j1", Served::FailSafe)));
}

#[tokio::test(start_paused = true)]
async fn fail_safe_without_a_fallback_still_fails() {
    let cache = Cache::builder().fail_safe(60 * SECOND).build();
    let runs = Counter::new();
    assert_eq!(
        failing(&cache, 1, FetchOptions::new(), &runs).await,
        Err("backend down".into())
    );
}

/// The throttle opens at the first fallback answer, answers every fetch that would
/// generate for `fail_safe_throttle` without running a generator, is not extended by
/// later answers, never answers `force_sync`, and closes when a value is stored.
#[tokio::test(start_paused = true)]
async fn the_throttle_spares_a_dead_backend() {
    let cache = Cache::builder()
        .fail_safe(3600 * SECOND)
        .fail_safe_throttle(10 * SECOND)
        .refresh_concurrency(0)
        .build();
    cache.fetch("k", 1_u64, || async { "v1" }).await;
    let runs = Counter::new();
    assert_eq!(
        failing(&cache, 2, FetchOptions::new(), &runs).await,
        Ok(("v1", Served::FailSafe))
    );
    assert_eq!(runs.get(), 1);
    advance(10 * SECOND - MS).await;
    assert_eq!(
        failing(&cache, 2, FetchOptions::new(), &runs).await,
        Ok(("v1", Served::FailSafe))
    );
    assert_eq!(runs.get(), 1, "throttled: no generator ran");
    assert_eq!(
        failing(&cache, 2, forced(), &runs).await,
        Ok(("v1", Served::FailSafe))
    );
    assert_eq!(runs.get(), 2, "force_sync always runs its generator");
    advance(MS).await;
    assert_eq!(
        failing(&cache, 2, FetchOptions::new(), &runs).await,
        Ok(("v1", Served::FailSafe))
    );
    assert_eq!(
        runs.get(),
        3,
        "[t, t + d): the window ended, not extended by later answers"
    );
    // Open again; a put closes it.
    assert!(cache.put("k", 2_u64, "v2").await);
    let fresh = cache
        .fetch_served("k", 3_u64, FetchOptions::new(), || async { "v3" })
        .await;
    assert_eq!(fresh, ("v3", Served::Sync), "closed: the generator runs");
    let Stats { fail_safe_hits, .. } = cache.stats();
    assert_eq!(fail_safe_hits, 4);
}

/// Callers that waited on the failed generation get the fallback too.
#[tokio::test(start_paused = true)]
async fn waiters_of_a_failed_generation_get_the_fallback() {
    let cache = Cache::builder().fail_safe(60 * SECOND).build();
    cache.fetch("k", 1_u64, || async { "v1" }).await;
    let runs = Counter::new();
    let callers: Vec<_> = (0..10)
        .map(|_| {
            let (cache, runs) = (cache.clone(), runs.clone());
            tokio::spawn(async move {
                cache
                    .try_fetch_served("k", 2_u64, forced(), move || async move {
                        runs.bump();
                        tokio::time::sleep(SECOND).await;
                        Err::<&str, _>("down")
                    })
                    .await
            })
        })
        .collect();
    for caller in callers {
        assert_eq!(caller.await.unwrap(), Ok(("v1", Served::FailSafe)));
    }
    assert_eq!(
        runs.get(),
        1,
        "one generation, its failure answered for all"
    );
    assert_eq!(cache.stats().fail_safe_hits, 10);
}
