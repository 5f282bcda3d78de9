//! Contract §6.5, the trailing refresh: a stale read that asks a newer version than
//! the refresh already running is not forgotten; one more refresh runs for the newest
//! version asked, queued before the first gives up its place.

mod common;

use async_cache_runtime::{Cache, FetchOptions, Served};
use common::{Counter, Gate, within};

#[tokio::test]
async fn the_newest_version_asked_during_a_refresh_is_refreshed_after_it() {
    let cache = Cache::builder().refresh_concurrency(1).build();
    cache.fetch("k", 1_u64, || async { "v1".to_string() }).await;
    let (started, release) = (Gate::new(), Gate::new());
    let held = {
        let (started, release) = (started.clone(), release.clone());
        move || async move {
            started.open();
            release.wait().await;
            "v2".to_string()
        }
    };
    let (_, served) = cache
        .fetch_served("k", 2_u64, FetchOptions::new(), held)
        .await;
    assert_eq!(served, Served::Stale);
    within("the first refresh", started.wait()).await;
    let runs = Counter::new();
    for (version, value) in [(3_u64, "v3"), (4, "v4"), (3, "v3 again"), (2, "v2 again")] {
        let runs = runs.clone();
        let (got, served) = cache
            .fetch_served("k", version, FetchOptions::new(), move || async move {
                runs.bump();
                value.to_string()
            })
            .await;
        assert_eq!((got.as_str(), served), ("v1", Served::Stale));
    }
    release.open();
    // Both: `wait_for_refreshes` does not resolve between them.
    within("both refreshes", cache.wait_for_refreshes()).await;
    assert_eq!(
        runs.get(),
        1,
        "one trailing refresh, for the newest version asked"
    );
    let stats = cache.stats();
    assert_eq!((stats.refreshes_started, stats.refreshes_completed), (2, 2));
    let (value, served) = cache
        .fetch_served("k", 4_u64, FetchOptions::new(), || async {
            "not run".to_string()
        })
        .await;
    assert_eq!(
        (value.as_str(), served),
        ("v4", Served::Hit),
        "converged without a read"
    );
}

#[tokio::test]
async fn no_trailing_refresh_for_the_version_already_being_refreshed() {
    let cache = Cache::new();
    cache.fetch("k", 1_u64, || async { "v1" }).await;
    let (started, release) = (Gate::new(), Gate::new());
    let held = {
        let (started, release) = (started.clone(), release.clone());
        move || async move {
            started.open();
            release.wait().await;
            "v2"
        }
    };
    cache.fetch("k", 2_u64, held).await;
    within("the refresh", started.wait()).await;
    let runs = Counter::new();
    let counted = runs.clone();
    cache
        .fetch("k", 2_u64, move || async move {
            counted.bump();
            "v2 again"
        })
        .await;
    release.open();
    cache.wait_for_refreshes().await;
    assert_eq!((runs.get(), cache.stats().refreshes_started), (0, 1));
}

#[tokio::test]
async fn no_trailing_refresh_after_an_invalidation() {
    let cache = Cache::new();
    cache.fetch("k", 1_u64, || async { "v1" }).await;
    let (started, release) = (Gate::new(), Gate::new());
    let held = {
        let (started, release) = (started.clone(), release.clone());
        move || async move {
            started.open();
            release.wait().await;
            "v2"
        }
    };
    cache.fetch("k", 2_u64, held).await;
    within("the refresh", started.wait()).await;
    cache.fetch("k", 3_u64, || async { "v3" }).await;
    cache.invalidate("k").await;
    release.open();
    cache.wait_for_refreshes().await;
    assert_eq!(cache.stats().refreshes_started, 1);
}
