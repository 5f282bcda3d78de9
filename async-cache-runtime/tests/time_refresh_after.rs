//! Contract §6.1, refresh by age, with tokio's paused clock: exact boundaries, age
//! and versions together, per-call options over the cache's defaults.

mod common;

use std::time::Duration;

use async_cache_runtime::{Cache, FetchOptions, Served};
use common::{Counter, Gate};
use tokio::time::advance;

const AGE: Duration = Duration::from_secs(60);
const MS: Duration = Duration::from_millis(1);

async fn served(
    cache: &Cache,
    version: u64,
    value: &'static str,
    runs: &Counter,
) -> (&'static str, Served) {
    let runs = runs.clone();
    cache
        .fetch_served("k", version, FetchOptions::new(), move || async move {
            runs.bump();
            value
        })
        .await
}

#[tokio::test(start_paused = true)]
async fn an_entry_is_stale_from_its_refresh_age_on() {
    let cache = Cache::builder().refresh_after(AGE).build();
    let runs = Counter::new();
    assert_eq!(
        served(&cache, 1, "first", &runs).await,
        ("first", Served::Miss)
    );
    advance(AGE - MS).await;
    assert_eq!(
        served(&cache, 1, "second", &runs).await,
        ("first", Served::Hit)
    );
    advance(MS).await;
    assert_eq!(
        served(&cache, 1, "second", &runs).await,
        ("first", Served::Stale),
        "at the age"
    );
    cache.wait_for_refreshes().await;
    assert_eq!(
        served(&cache, 1, "third", &runs).await,
        ("second", Served::Hit),
        "refreshed, same version"
    );
    assert_eq!(runs.get(), 2);
}

#[tokio::test(start_paused = true)]
async fn age_counts_for_callers_of_the_stored_version_or_newer_only() {
    let cache = Cache::builder().refresh_after(AGE).build();
    let runs = Counter::new();
    served(&cache, 5, "v5", &runs).await;
    advance(AGE).await;
    // Its refresh could never be stored (no downgrade): a hit.
    assert_eq!(served(&cache, 4, "v4", &runs).await, ("v5", Served::Hit));
    assert_eq!(
        served(&cache, 5, "v5 again", &runs).await,
        ("v5", Served::Stale)
    );
    cache.wait_for_refreshes().await;
    assert_eq!(
        served(&cache, 5, "-", &runs).await,
        ("v5 again", Served::Hit)
    );
    assert_eq!(runs.get(), 2);
}

#[tokio::test(start_paused = true)]
async fn a_calls_refresh_after_overrides_the_default() {
    let cache = Cache::builder().refresh_after(AGE).build();
    cache.fetch("k", (), || async { "old" }).await;
    advance(Duration::from_secs(10)).await;
    let plain = cache
        .fetch_served("k", (), FetchOptions::new(), || async { "not run" })
        .await;
    assert_eq!(plain, ("old", Served::Hit));
    let eager = FetchOptions::new().refresh_after(Duration::from_secs(10));
    let (_, served) = cache.fetch_served("k", (), eager, || async { "new" }).await;
    assert_eq!(served, Served::Stale, "judged by the reading call");
    cache.wait_for_refreshes().await;
    assert_eq!(cache.fetch("k", (), || async { "not run" }).await, "new");
}

/// The refresh replaces the entry it found stale, but not a same-version value
/// written after it was scheduled.
#[tokio::test(start_paused = true)]
async fn a_put_made_while_the_refresh_runs_stays() {
    let cache = Cache::builder().refresh_after(AGE).build();
    cache.fetch("k", 1_u64, || async { "old" }).await;
    advance(AGE).await;
    let gate = Gate::new();
    let held = gate.clone();
    let (_, served) = cache
        .fetch_served("k", 1_u64, FetchOptions::new(), move || async move {
            held.wait().await;
            "refreshed"
        })
        .await;
    assert_eq!(served, Served::Stale);
    assert!(
        cache.put("k", 1_u64, "put").await,
        "a newer make of the same version"
    );
    gate.open();
    cache.wait_for_refreshes().await;
    assert_eq!(cache.fetch("k", 1_u64, || async { "not run" }).await, "put");
    assert_eq!(cache.stats().refreshes_completed, 1);
}

/// With `expires_in` too: a hot entry is refreshed before it expires and never
/// blocks; a cold one expires (a miss).
#[tokio::test(start_paused = true)]
async fn hot_entries_refresh_before_they_expire_and_cold_ones_expire() {
    let cache = Cache::builder()
        .refresh_after(AGE)
        .expires_in(2 * AGE)
        .build();
    let runs = Counter::new();
    served(&cache, 1, "a", &runs).await;
    advance(AGE).await;
    assert_eq!(served(&cache, 1, "b", &runs).await.1, Served::Stale);
    cache.wait_for_refreshes().await;
    advance(AGE + AGE / 2).await;
    // Written at 60 s, it lives to 180 s: at 150 s still served.
    assert_eq!(served(&cache, 1, "c", &runs).await.0, "b");
    cache.wait_for_refreshes().await;
    advance(3 * AGE).await;
    assert_eq!(
        served(&cache, 1, "d", &runs).await,
        ("d", Served::Miss),
        "cold: expired"
    );
}
