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

/// Holds a refresh of `k` to version 2 (value "v2", or an error if `fails`) until the
/// returned gate opens, once `k` holds "v1"; returns when it runs.
async fn hold_a_refresh(cache: &Cache, fails: bool) -> Gate {
    cache.fetch("k", 1_u64, || async { "v1".to_string() }).await;
    let (started, release) = (Gate::new(), Gate::new());
    let held = {
        let (started, release) = (started.clone(), release.clone());
        move || async move {
            started.open();
            release.wait().await;
            if fails {
                Err("down")
            } else {
                Ok("v2".to_string())
            }
        }
    };
    let (_, served) = cache
        .try_fetch_served("k", 2_u64, FetchOptions::new(), held)
        .await
        .unwrap();
    assert_eq!(served, Served::Stale);
    within("the first refresh", started.wait()).await;
    release
}

/// A stale read of `k` at `version`, whose refresh makes `value` and counts its run.
async fn trail(cache: &Cache, version: u64, value: &'static str, runs: &Counter) {
    let runs = runs.clone();
    let (got, served) = cache
        .fetch_served("k", version, FetchOptions::new(), move || async move {
            runs.bump();
            value.to_string()
        })
        .await;
    assert_eq!((got.as_str(), served), ("v1", Served::Stale));
}

#[tokio::test]
async fn in_a_full_worker_the_trailing_refresh_takes_the_place_its_predecessor_leaves() {
    // One place and no queue: while the first refresh runs there is no room for
    // another, so the trailing one runs in the first one's place, not dropped.
    let cache = Cache::builder()
        .refresh_concurrency(1)
        .refresh_queue_capacity(0)
        .build();
    cache
        .fetch("other", 1_u64, || async { "o1".to_string() })
        .await;
    let release = hold_a_refresh(&cache, false).await;
    let runs = Counter::new();
    trail(&cache, 3, "v3", &runs).await;
    // Another locator's refresh finds the worker full.
    cache
        .fetch("other", 2_u64, || async { "o2".to_string() })
        .await;
    assert_eq!(cache.stats().refreshes_dropped, 1);
    release.open();
    within("both refreshes", cache.wait_for_refreshes()).await;
    assert_eq!(runs.get(), 1);
    let stats = cache.stats();
    assert_eq!(
        (
            stats.refreshes_started,
            stats.refreshes_completed,
            stats.refreshes_dropped
        ),
        (2, 2, 1),
        "{stats:?}"
    );
    assert_eq!(
        cache.fetch("k", 3_u64, || async { String::new() }).await,
        "v3"
    );
}

#[tokio::test]
async fn after_a_failed_refresh_the_trailing_one_runs() {
    let cache = Cache::new();
    let release = hold_a_refresh(&cache, true).await;
    let runs = Counter::new();
    trail(&cache, 3, "v3", &runs).await;
    release.open();
    within("both refreshes", cache.wait_for_refreshes()).await;
    let stats = cache.stats();
    assert_eq!(
        (
            runs.get(),
            stats.refreshes_failed,
            stats.refreshes_completed
        ),
        (1, 1, 1)
    );
    assert_eq!(
        cache.fetch("k", 3_u64, || async { String::new() }).await,
        "v3"
    );
}

#[tokio::test(start_paused = true)]
async fn no_trailing_refresh_while_the_back_off_holds_the_locator() {
    let backoff = std::time::Duration::from_secs(10);
    let cache = Cache::builder().refresh_backoff(backoff, backoff).build();
    let release = hold_a_refresh(&cache, true).await;
    let runs = Counter::new();
    trail(&cache, 3, "v3", &runs).await;
    release.open();
    within("the first refresh", cache.wait_for_refreshes()).await;
    assert_eq!((runs.get(), cache.stats().refreshes_started), (0, 1));
    // The window is the one thing in the way: once it closes, a read refreshes.
    tokio::time::advance(backoff).await;
    trail(&cache, 3, "v3", &runs).await;
    cache.wait_for_refreshes().await;
    assert_eq!(runs.get(), 1);
}

#[tokio::test]
async fn a_stale_read_of_a_version_already_kept_makes_no_future() {
    let cache = Cache::new();
    let release = hold_a_refresh(&cache, false).await;
    let made = Counter::new();
    for version in [3_u64, 3, 2, 3] {
        let made = made.clone();
        cache
            .fetch("k", version, move || {
                made.bump();
                async { "v3".to_string() }
            })
            .await;
    }
    assert_eq!(made.get(), 1, "only the first read of version 3");
    release.open();
    cache.wait_for_refreshes().await;
    assert_eq!(cache.stats().refreshes_started, 2);
}

#[tokio::test]
async fn without_a_worker_there_is_nothing_to_trail() {
    // `refresh_concurrency(0)`: every outdated read regenerates in the caller.
    let cache = Cache::builder().refresh_concurrency(0).build();
    cache.fetch("k", 1_u64, || async { "v1" }).await;
    for (version, value) in [(2_u64, "v2"), (3, "v3")] {
        let (got, served) = cache
            .fetch_served(
                "k",
                version,
                FetchOptions::new(),
                move || async move { value },
            )
            .await;
        assert_eq!((got, served), (value, Served::Sync));
    }
    cache.wait_for_refreshes().await;
    assert_eq!(cache.stats().refreshes_started, 0);
}

#[tokio::test]
async fn a_trailing_refresh_outlives_its_cache_handle_like_any_refresh() {
    // Refreshes own what they need: dropping the last handle while one runs lets it,
    // and the one trailing it, run to their end (and then free the cache).
    let cache = Cache::new();
    let release = hold_a_refresh(&cache, false).await;
    let runs = Counter::new();
    trail(&cache, 3, "v3", &runs).await;
    let finished = Gate::new();
    {
        let finished = finished.clone();
        let runs = runs.clone();
        cache
            .fetch("k", 4_u64, move || async move {
                runs.bump();
                finished.open();
                "v4".to_string()
            })
            .await;
    }
    drop(cache);
    release.open();
    within("the trailing refresh", finished.wait()).await;
    assert_eq!(runs.get(), 1, "the newest trailing version only");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn under_racing_reads_the_entry_converges_to_the_newest_version_asked() {
    // Reads race refreshes ending (a read may trail a refresh, claim its own, or find
    // itself covered), and once every refresh is done the newest version is stored.
    const TASKS: u64 = 4;
    const READS: u64 = 150;
    for round in 0..10 {
        let cache = Cache::new();
        cache.fetch("k", 0_u64, || async { 0_u64 }).await;
        let readers: Vec<_> = (0..TASKS)
            .map(|task| {
                let cache = cache.clone();
                tokio::spawn(async move {
                    for read in 0..READS {
                        let version = read * TASKS + task + 1;
                        cache
                            .fetch("k", version, move || async move {
                                tokio::task::yield_now().await;
                                version
                            })
                            .await;
                    }
                })
            })
            .collect();
        for reader in readers {
            within("the readers", reader).await.unwrap();
        }
        within("every refresh", cache.wait_for_refreshes()).await;
        let newest = READS * TASKS;
        let (value, served) = cache
            .fetch_served("k", newest, FetchOptions::new(), || async { u64::MAX })
            .await;
        assert_eq!(
            (value, served),
            (newest, Served::Hit),
            "round {round}: {:?}",
            cache.stats()
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_read_whose_refresh_ends_while_it_trails_it_runs_its_own() {
    let cache = Cache::new();
    let release = hold_a_refresh(&cache, false).await;
    let runs = Counter::new();
    let (ending, counted) = (cache.clone(), runs.clone());
    let (got, served) = cache
        .fetch_served("k", 3_u64, FetchOptions::new(), move || {
            // Made at the read, with the running refresh in hand: it ends first, so
            // the offer that follows is refused. (The test body runs off the
            // runtime's workers, so blocking here holds up no refresh.)
            release.open();
            futures_executor::block_on(within("the first refresh", ending.wait_for_refreshes()));
            async move {
                counted.bump();
                "v3".to_string()
            }
        })
        .await;
    assert_eq!((got.as_str(), served), ("v1", Served::Stale));
    within("its own refresh", cache.wait_for_refreshes()).await;
    assert_eq!(runs.get(), 1, "not lost with the refresh it trailed");
    let stats = cache.stats();
    assert_eq!((stats.refreshes_started, stats.refreshes_completed), (2, 2));
    assert_eq!(
        cache.fetch("k", 3_u64, || async { String::new() }).await,
        "v3"
    );
}
