//! Contract §6.4, refresh back-off, with tokio's paused clock: after a failed
//! refresh, stale reads schedule none for a window that doubles with each failure,
//! up to its max; a successful refresh resets it; callers that generate themselves
//! are never held back.

mod common;

use std::time::Duration;

use async_cache_runtime::{Cache, FetchOptions, Served};
use common::Counter;
use tokio::time::advance;

const FIRST: Duration = Duration::from_secs(1);
const MAX: Duration = Duration::from_secs(3);
const MS: Duration = Duration::from_millis(1);

/// A stale read whose refresh fails (or succeeds, `ok`), run to its end.
async fn stale_read(cache: &Cache, runs: &Counter, ok: bool) -> Served {
    let runs = runs.clone();
    let (_, served) = cache
        .try_fetch_served("k", 2_u64, FetchOptions::new(), move || async move {
            runs.bump();
            if ok { Ok("v2") } else { Err("down") }
        })
        .await
        .unwrap();
    cache.wait_for_refreshes().await;
    served
}

#[tokio::test(start_paused = true)]
async fn the_window_doubles_up_to_its_max_and_a_success_resets_it() {
    let cache = Cache::builder().refresh_backoff(FIRST, MAX).build();
    cache.fetch("k", 1_u64, || async { "v1" }).await;
    let runs = Counter::new();
    let mut expected_runs = 0;
    for window in [FIRST, 2 * FIRST, MAX, MAX] {
        assert_eq!(stale_read(&cache, &runs, false).await, Served::Stale);
        expected_runs += 1;
        assert_eq!(
            runs.get(),
            expected_runs,
            "the read that opens the window refreshes"
        );
        advance(window - MS).await;
        assert_eq!(stale_read(&cache, &runs, false).await, Served::Stale);
        assert_eq!(runs.get(), expected_runs, "held back within {window:?}");
        advance(MS).await;
    }
    assert_eq!(cache.stats().refreshes_backed_off, 4);
    assert_eq!(
        cache.stats().stale_hits,
        8,
        "backed-off reads are stale hits too"
    );
    // A success resets it: the next failure opens the first window again.
    assert_eq!(stale_read(&cache, &runs, true).await, Served::Stale);
    cache.invalidate("k").await;
    cache.fetch("k", 1_u64, || async { "v1" }).await;
    assert_eq!(stale_read(&cache, &runs, false).await, Served::Stale);
    advance(FIRST).await;
    let before = runs.get();
    stale_read(&cache, &runs, false).await;
    assert_eq!(runs.get(), before + 1, "back to the first window");
}

#[tokio::test(start_paused = true)]
async fn callers_that_generate_themselves_are_never_held_back() {
    let cache = Cache::builder().refresh_backoff(FIRST, MAX).build();
    cache.fetch("k", 1_u64, || async { "v1" }).await;
    let runs = Counter::new();
    stale_read(&cache, &runs, false).await;
    let forced = cache
        .fetch_served("k", 2_u64, FetchOptions::new().force_sync(true), || async {
            "v2"
        })
        .await;
    assert_eq!(forced, ("v2", Served::Sync));
}
