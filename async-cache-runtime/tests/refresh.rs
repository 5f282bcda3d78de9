//! Contract §2.2 to §2.4 and §2.10 (crate docs): one background refresh per locator,
//! stale reads that never wait, no downgrade, and invalidation that wins over running
//! work.

mod common;

use async_cache_runtime::{Cache, FetchOptions, Served};
use common::{Arrivals, Counter, Gate, parked, within};
use futures_util::future::join_all;

/// A generator that counts its run, signals `started`, waits for `release`, and
/// returns `value`.
fn held(
    runs: &Counter,
    started: &Gate,
    release: &Gate,
    value: &'static str,
) -> impl FnOnce() -> futures_util::future::BoxFuture<'static, &'static str> + Send + use<> {
    let (runs, started, release) = (runs.clone(), started.clone(), release.clone());
    move || {
        runs.bump();
        Box::pin(async move {
            started.open();
            release.wait().await;
            value
        })
    }
}

async fn seeded(version: i32, value: &'static str) -> Cache {
    let cache = Cache::new();
    cache.fetch("k", version, || async move { value }).await;
    cache
}

/// A cache holding `k` at version 1 (`"v1"`) whose stale read at version 2 started a
/// background refresh, held until the returned gate opens and then making `value`;
/// returns once that refresh runs, with the count of its generator's runs.
async fn with_held_refresh(value: &'static str) -> (Cache, Counter, Gate) {
    let cache = seeded(1, "v1").await;
    let (runs, started, release) = (Counter::new(), Gate::new(), Gate::new());
    let stale = cache
        .fetch("k", 2, held(&runs, &started, &release, value))
        .await;
    assert_eq!(stale, "v1");
    within("refresh start", started.wait()).await;
    (cache, runs, release)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn many_stale_readers_schedule_one_refresh_and_never_wait() {
    let cache = seeded(1, "v1").await;
    let (runs, started, release) = (Counter::new(), Gate::new(), Gate::new());
    let readers: Vec<_> = (0..500)
        .map(|_| {
            let cache = cache.clone();
            let generate = held(&runs, &started, &release, "v2");
            tokio::spawn(async move {
                cache
                    .fetch_served("k", 2, FetchOptions::new(), generate)
                    .await
            })
        })
        .collect();
    // Every reader returns while the refresh is still held.
    let served = within("stale readers", join_all(readers)).await;
    assert!(!release.is_open());
    for result in served {
        assert_eq!(result.unwrap(), ("v1", Served::Stale));
    }
    release.open();
    within("refresh", cache.wait_for_refreshes()).await;
    assert_eq!(runs.get(), 1, "one refresh however many stale readers");
    let stats = cache.stats();
    assert_eq!(stats.stale_hits, 500);
    assert_eq!((stats.refreshes_started, stats.refreshes_completed), (1, 1));
    assert_eq!(cache.fetch("k", 2, || async { "never" }).await, "v2");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_refresh_never_downgrades_a_newer_write() {
    let (cache, runs, release) = with_held_refresh("v2").await;
    // Version 3 lands while the version-2 refresh runs.
    let force = FetchOptions::new().force_sync(true);
    let v3 = cache.fetch_with("k", 3, force, || async { "v3" }).await;
    assert_eq!(v3, "v3");
    release.open();
    within("refresh", cache.wait_for_refreshes()).await;
    assert_eq!(cache.fetch("k", 2, || async { "never" }).await, "v3");
    assert_eq!(
        cache.stats().refreshes_completed,
        1,
        "discarded, not failed"
    );
    assert_eq!(runs.get(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn invalidation_wins_over_a_running_refresh() {
    let (cache, runs, release) = with_held_refresh("v2").await;
    cache.invalidate("k").await;
    release.open();
    within("refresh", cache.wait_for_refreshes()).await;
    let (value, served) = cache
        .fetch_served("k", 2, FetchOptions::new(), || async { "regenerated" })
        .await;
    assert_eq!((value, served), ("regenerated", Served::Miss));
    assert_eq!(
        runs.get(),
        1,
        "the voided refresh ran once and was not retried"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn invalidation_wins_over_a_running_miss_which_still_answers() {
    for invalidate_all in [false, true] {
        let cache = Cache::new();
        let (runs, started, release) = (Counter::new(), Gate::new(), Gate::new());
        let caller = {
            let cache = cache.clone();
            let generate = held(&runs, &started, &release, "generated");
            tokio::spawn(async move { cache.fetch("k", 1, generate).await })
        };
        within("miss start", started.wait()).await;
        if invalidate_all {
            cache.invalidate_all();
        } else {
            cache.invalidate("k").await;
        }
        release.open();
        assert_eq!(within("caller", caller).await.unwrap(), "generated");
        let (_, served) = cache
            .fetch_served("k", 1, FetchOptions::new(), || async { "again" })
            .await;
        assert_eq!(served, Served::Miss, "invalidate_all: {invalidate_all}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn force_sync_joins_a_running_refresh_of_its_version() {
    let (cache, runs, release) = with_held_refresh("v2 from the refresh").await;
    let arrivals = Arrivals::new();
    let joiner = {
        let (cache, arrivals) = (cache.clone(), arrivals.clone());
        let own = Counter::new();
        let counted = own.clone();
        let task = tokio::spawn(async move {
            let force = FetchOptions::new().force_sync(true);
            let fetch = cache.fetch_served("k", 2, force, move || async move {
                counted.bump();
                "v2 from the caller"
            });
            parked(fetch, &arrivals).await
        });
        (task, own)
    };
    // Waiting while the refresh is held: it joined the refresh.
    within("joiner parked", arrivals.wait_for(1)).await;
    release.open();
    let (value, served) = within("joiner", joiner.0).await.unwrap();
    assert_eq!(served, Served::Sync);
    assert_eq!(value, "v2 from the refresh");
    assert_eq!(joiner.1.get(), 0, "the joiner ran no generator of its own");
    assert_eq!(runs.get(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_refresh_stores_with_the_expiry_of_the_call_that_scheduled_it() {
    let cache = seeded(1, "v1").await;
    let short = FetchOptions::new().expires_in(std::time::Duration::from_millis(50));
    cache.fetch_with("k", 2, short, || async { "v2" }).await;
    within("refresh", cache.wait_for_refreshes()).await;
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    let (_, served) = cache
        .fetch_served("k", 2, FetchOptions::new(), || async { "v2 again" })
        .await;
    assert_eq!(served, Served::Miss);
}

/// The pitfall of a single worker slot: a refresh whose generator force-syncs another
/// locator must not wait for that locator's refresh queued behind itself.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_refresh_never_waits_for_a_refresh_queued_behind_it() {
    let cache = Cache::builder().refresh_concurrency(1).build();
    cache.fetch("a", 1, || async { "a1" }).await;
    cache.fetch("b", 1, || async { "b1" }).await;
    let (started, release) = (Gate::new(), Gate::new());
    let b_runs = Counter::new();
    {
        let inner = cache.clone();
        let (started, release, b_runs) = (started.clone(), release.clone(), b_runs.clone());
        cache
            .fetch("a", 2, move || async move {
                started.open();
                release.wait().await;
                let force = FetchOptions::new().force_sync(true);
                inner
                    .fetch_with("b", 2, force, move || async move {
                        b_runs.bump();
                        "b2"
                    })
                    .await;
                "a2"
            })
            .await;
    }
    within("a's refresh start", started.wait()).await;
    // b's refresh queues behind a's, which holds the only slot.
    assert_eq!(cache.fetch("b", 2, || async { "b2 queued" }).await, "b1");
    release.open();
    within("both refreshes", cache.wait_for_refreshes()).await;
    assert_eq!(cache.fetch("a", 2, || async { "never" }).await, "a2");
    assert_eq!(cache.fetch("b", 2, || async { "never" }).await, "b2");
    assert_eq!(b_runs.get(), 1);
    // The queued refresh found itself overtaken and skipped its generator.
    assert_eq!(cache.stats().refreshes_completed, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn wait_for_refreshes_resolves_at_once_when_idle() {
    let cache = Cache::new();
    within("idle", cache.wait_for_refreshes()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_refresh_past_refresh_timeout_is_abandoned_and_frees_its_claim() {
    let cache = Cache::builder()
        .refresh_concurrency(1)
        .refresh_timeout(std::time::Duration::from_millis(100))
        .build();
    cache.fetch("k", 1, || async { "v1" }).await;
    let started = Gate::new();
    let hung = {
        let started = started.clone();
        move || async move {
            started.open();
            std::future::pending::<&'static str>().await
        }
    };
    assert_eq!(cache.fetch("k", 2, hung).await, "v1");
    within("hung refresh start", started.wait()).await;
    // A force_sync caller joins the running refresh, then generates for itself once
    // the refresh is abandoned.
    let force = FetchOptions::new().force_sync(true);
    let joined = within(
        "joiner",
        cache.fetch_served("k", 2, force, || async { "v2 from the caller" }),
    )
    .await;
    assert_eq!(joined, ("v2 from the caller", Served::Sync));
    within("abandoned refresh", cache.wait_for_refreshes()).await;
    let stats = cache.stats();
    assert_eq!((stats.refreshes_started, stats.refreshes_failed), (1, 1));
    // Its claim and its one running place are free: another locator refreshes.
    cache.fetch("other", 1, || async { "o1" }).await;
    assert_eq!(cache.fetch("other", 2, || async { "o2" }).await, "o1");
    within("next refresh", cache.wait_for_refreshes()).await;
    assert_eq!(cache.fetch("other", 2, || async { "never" }).await, "o2");
}
