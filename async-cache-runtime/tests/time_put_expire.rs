//! Contract §6.6, write-through and soft invalidation: `put` never downgrades and
//! outlives older generations still running; `expire` keeps a fallback where
//! `invalidate` does not.

mod common;

use std::time::Duration;

use async_cache_runtime::{Cache, FetchOptions, Served};
use common::{Counter, Gate};

#[tokio::test]
async fn put_replaces_equal_or_older_versions_never_newer_ones() {
    let cache = Cache::new();
    assert!(cache.put("k", 2_u64, "two").await);
    assert!(
        cache.put("k", 2_u64, "two, remade").await,
        "a newer make of the same version"
    );
    assert!(!cache.put("k", 1_u64, "one").await);
    assert!(cache.put("k", 3_u64, "three").await);
    let got = cache.fetch("k", 3_u64, || async { "not run" }).await;
    assert_eq!(got, "three");
}

#[tokio::test]
async fn a_generation_of_an_older_version_running_under_a_put_is_discarded() {
    let cache = Cache::new();
    let gate = Gate::new();
    let (held, in_generator) = (gate.clone(), Gate::new());
    let entered = in_generator.clone();
    let miss = {
        let cache = cache.clone();
        tokio::spawn(async move {
            cache
                .fetch("k", 1_u64, move || async move {
                    entered.open();
                    held.wait().await;
                    "one, late"
                })
                .await
        })
    };
    in_generator.wait().await;
    assert!(cache.put("k", 2_u64, "two").await);
    gate.open();
    assert_eq!(miss.await.unwrap(), "one, late", "its caller still gets it");
    let got = cache
        .fetch_served("k", 2_u64, FetchOptions::new(), || async { "not run" })
        .await;
    assert_eq!(got, ("two", Served::Hit));
}

#[tokio::test]
async fn expire_makes_the_entry_stale_for_every_version_and_keeps_it() {
    let cache = Cache::new();
    cache.fetch("k", 5_u64, || async { "v5" }).await;
    cache.expire("k").await;
    let (value, served) = cache
        .fetch_served("k", 4_u64, FetchOptions::new(), || async { "v4" })
        .await;
    assert_eq!(
        (value, served),
        ("v5", Served::Stale),
        "even for an older version"
    );
    cache.wait_for_refreshes().await;
    // The older version's refresh could not replace v5: the mark stays.
    let (_, served) = cache
        .fetch_served("k", 5_u64, FetchOptions::new(), || async { "v5, remade" })
        .await;
    assert_eq!(served, Served::Stale);
    cache.wait_for_refreshes().await;
    let got = cache
        .fetch_served("k", 5_u64, FetchOptions::new(), || async { "not run" })
        .await;
    assert_eq!(
        got,
        ("v5, remade", Served::Hit),
        "refreshed at its version: mark cleared"
    );
}

#[tokio::test]
async fn expire_keeps_a_fallback_where_invalidate_does_not() {
    let cache = Cache::builder()
        .fail_safe(Duration::from_secs(60))
        .refresh_concurrency(0)
        .build();
    let failing = |cache: &Cache| {
        let cache = cache.clone();
        async move {
            cache
                .try_fetch_served("k", 1_u64, FetchOptions::new(), || async {
                    Err::<&str, _>("down")
                })
                .await
        }
    };
    cache.fetch("k", 1_u64, || async { "v1" }).await;
    cache.expire("k").await;
    assert_eq!(failing(&cache).await, Ok(("v1", Served::FailSafe)));
    cache.invalidate("k").await;
    assert_eq!(
        failing(&cache).await,
        Err("down"),
        "invalidate removes: no fallback"
    );
}

#[tokio::test]
async fn expire_of_a_missing_locator_does_nothing_and_put_clears_a_mark() {
    let cache = Cache::new();
    cache.expire("absent").await;
    let runs = Counter::new();
    let counted = runs.clone();
    let (_, served) = cache
        .fetch_served("absent", 1_u64, FetchOptions::new(), move || async move {
            counted.bump();
            "made"
        })
        .await;
    assert_eq!((served, runs.get()), (Served::Miss, 1));
    cache.expire("absent").await;
    assert!(cache.put("absent", 1_u64, "put").await);
    let got = cache
        .fetch_served("absent", 1_u64, FetchOptions::new(), || async { "not run" })
        .await;
    assert_eq!(got, ("put", Served::Hit));
}
