//! Contract §1 (crate docs): each row of the strategy table, end to end.

mod common;

use std::time::Duration;

use async_cache_runtime::{Cache, FetchOptions, Served};
use common::{Counter, within};

fn make(
    counter: &Counter,
    label: &'static str,
) -> impl FnOnce() -> std::future::Ready<String> + Send {
    let counter = counter.clone();
    move || {
        counter.bump();
        std::future::ready(label.to_string())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn miss_then_hit() {
    let cache = Cache::new();
    let runs = Counter::new();
    let (first, served1) = cache
        .fetch_served("things/1", 1, FetchOptions::new(), make(&runs, "v1"))
        .await;
    let (second, served2) = cache
        .fetch_served("things/1", 1, FetchOptions::new(), make(&runs, "other"))
        .await;
    assert_eq!((first.as_str(), served1), ("v1", Served::Miss));
    assert_eq!((second.as_str(), served2), ("v1", Served::Hit));
    assert_eq!(runs.get(), 1);
    let stats = cache.stats();
    assert_eq!((stats.misses, stats.hits), (1, 1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_older_requested_version_is_current() {
    let cache = Cache::new();
    let runs = Counter::new();
    cache.fetch("k", 5_u64, make(&runs, "v5")).await;
    let (value, served) = cache
        .fetch_served("k", 3_u64, FetchOptions::new(), make(&runs, "v3"))
        .await;
    assert_eq!((value.as_str(), served), ("v5", Served::Hit));
    cache.wait_for_refreshes().await;
    assert_eq!(runs.get(), 1, "no refresh for a lagging version");
    assert_eq!(cache.stats().refreshes_started, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outdated_with_a_worker_is_served_stale_then_refreshed() {
    let cache = Cache::new();
    let runs = Counter::new();
    cache.fetch("k", 1, make(&runs, "v1")).await;
    let (stale, served) = cache
        .fetch_served("k", 2, FetchOptions::new(), make(&runs, "v2"))
        .await;
    assert_eq!((stale.as_str(), served), ("v1", Served::Stale));
    within("refresh", cache.wait_for_refreshes()).await;
    let (fresh, served) = cache
        .fetch_served("k", 2, FetchOptions::new(), make(&runs, "never"))
        .await;
    assert_eq!((fresh.as_str(), served), ("v2", Served::Hit));
    assert_eq!(runs.get(), 2);
    let stats = cache.stats();
    assert_eq!(
        (stats.misses, stats.stale_hits, stats.hits),
        (1, 1, 1),
        "{stats:?}"
    );
    assert_eq!((stats.refreshes_started, stats.refreshes_completed), (1, 1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outdated_without_a_worker_is_regenerated_in_the_caller() {
    let cache = Cache::builder().refresh_concurrency(0).build();
    let runs = Counter::new();
    cache.fetch("k", 1, make(&runs, "v1")).await;
    let (value, served) = cache
        .fetch_served("k", 2, FetchOptions::new(), make(&runs, "v2"))
        .await;
    assert_eq!((value.as_str(), served), ("v2", Served::Sync));
    let stats = cache.stats();
    assert_eq!((stats.sync_refreshes, stats.refreshes_started), (1, 0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn force_sync_regenerates_in_the_caller() {
    let cache = Cache::new();
    let runs = Counter::new();
    cache.fetch("k", 1, make(&runs, "v1")).await;
    let options = FetchOptions::new().force_sync(true);
    let (value, served) = cache
        .fetch_served("k", 2, options.clone(), make(&runs, "v2"))
        .await;
    assert_eq!((value.as_str(), served), ("v2", Served::Sync));
    // force_sync on a current entry is an ordinary hit.
    let (value, served) = cache
        .fetch_served("k", 2, options, make(&runs, "never"))
        .await;
    assert_eq!((value.as_str(), served), ("v2", Served::Hit));
    assert_eq!(runs.get(), 2);
    assert_eq!(cache.stats().refreshes_started, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn entries_of_other_types_are_misses_and_overwritten() {
    let cache = Cache::new();
    let runs = Counter::new();
    cache.fetch("k", 1_u64, make(&runs, "string at u64")).await;
    // Same locator, other value type.
    let n = cache.fetch("k", 1_u64, || async { 7_i32 }).await;
    assert_eq!(n, 7);
    // Other version type.
    let s = cache
        .fetch("k", "1".to_string(), make(&runs, "string at String"))
        .await;
    assert_eq!(s, "string at String");
    // The last write won: the first types miss again.
    let again = cache.fetch("k", 1_u64, make(&runs, "again")).await;
    assert_eq!(again, "again");
    assert_eq!(runs.get(), 3);
    assert_eq!(cache.stats().misses, 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_entries_are_misses() {
    let cache = Cache::new();
    let runs = Counter::new();
    let short = FetchOptions::new().expires_in(Duration::from_millis(50));
    let long = FetchOptions::new().expires_in(Duration::from_secs(3600));
    cache.fetch_with("short", 1, short, make(&runs, "a")).await;
    cache.fetch_with("long", 1, long, make(&runs, "b")).await;
    // Generous margin: expiry only has to have happened, however loaded the machine.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (_, short_served) = cache
        .fetch_served("short", 1, FetchOptions::new(), make(&runs, "a2"))
        .await;
    let (_, long_served) = cache
        .fetch_served("long", 1, FetchOptions::new(), make(&runs, "never"))
        .await;
    assert_eq!((short_served, long_served), (Served::Miss, Served::Hit));
    assert_eq!(runs.get(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalidate_and_invalidate_all_remove_entries() {
    let cache = Cache::new();
    let runs = Counter::new();
    for locator in ["a", "b", "c"] {
        cache.fetch(locator, 1, make(&runs, "v")).await;
    }
    cache.invalidate("a").await;
    let served = |locator: &'static str| {
        let cache = cache.clone();
        let runs = runs.clone();
        async move {
            cache
                .fetch_served(locator, 1, FetchOptions::new(), make(&runs, "v"))
                .await
                .1
        }
    };
    assert_eq!(served("a").await, Served::Miss);
    assert_eq!(served("b").await, Served::Hit);
    cache.invalidate_all();
    assert_eq!(served("b").await, Served::Miss);
    assert_eq!(served("c").await, Served::Miss);
    assert_eq!(runs.get(), 3 + 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_completed_fetch_counts_once() {
    let cache = Cache::builder().build();
    let runs = Counter::new();
    cache.fetch("k", 1, make(&runs, "v1")).await; // miss
    cache.fetch("k", 1, make(&runs, "v1")).await; // hit
    cache.fetch("k", 2, make(&runs, "v2")).await; // stale
    cache.wait_for_refreshes().await;
    let force = FetchOptions::new().force_sync(true);
    cache.fetch_with("k", 3, force, make(&runs, "v3")).await; // sync
    let stats = cache.stats();
    let counted = (
        stats.hits,
        stats.stale_hits,
        stats.misses,
        stats.sync_refreshes,
        stats.refreshes_started,
        stats.refreshes_completed,
    );
    assert_eq!(counted, (1, 1, 1, 1, 1, 1), "{stats:?}");
    assert_eq!(
        stats.refreshes_failed + stats.refreshes_dropped + stats.store_errors,
        0
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn served_capture_sees_the_outermost_fetch() {
    let cache = Cache::new();
    let inner = cache.clone();
    let (value, served) = Served::capture(cache.fetch("outer", 1, move || async move {
        // A nested fetch completes first; the outer one is what the caller saw.
        inner.fetch("inner", 1, || async { 1 }).await + 1
    }))
    .await;
    assert_eq!((value, served), (2, Some(Served::Miss)));
    let (_, served) = Served::capture(cache.fetch("inner", 1, || async { 0 })).await;
    assert_eq!(served, Some(Served::Hit));
    let (_, served) = Served::capture(async {}).await;
    assert_eq!(served, None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn locators_may_be_str_string_or_any_as_ref_str() {
    let cache = Cache::new();
    cache.fetch(String::from("k"), 1, || async { 1 }).await;
    let hit = cache.fetch("k", 1, || async { 2 }).await;
    let boxed: Box<str> = "k".into();
    let hit2 = cache.fetch(&boxed, 1, || async { 3 }).await;
    assert_eq!((hit, hit2), (1, 1));
}
