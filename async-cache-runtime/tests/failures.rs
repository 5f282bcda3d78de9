//! Contract §2.5 and §2.6 (crate docs): failures keep the old value, are counted and
//! logged, release their claim; only successes are cached.

mod common;

use std::io::Write;
use std::sync::{Arc, Mutex};

use async_cache_runtime::{Cache, FetchOptions, Served};
use common::{Counter, within};

/// A generator body that panics, typed as the value it would have made.
fn explode<T>(message: &'static str) -> T {
    std::panic::panic_any(message)
}

async fn seeded() -> Cache {
    let cache = Cache::new();
    cache.fetch("k", 1, || async { "v1" }).await;
    cache
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refresh_that_returns_err_keeps_the_stale_value_and_releases_its_claim() {
    let cache = seeded().await;
    let stale = cache
        .try_fetch("k", 2, || async { Err::<&str, _>("database down") })
        .await;
    assert_eq!(stale, Ok("v1"));
    within("failed refresh", cache.wait_for_refreshes()).await;
    let stats = cache.stats();
    assert_eq!((stats.refreshes_started, stats.refreshes_failed), (1, 1));
    assert_eq!(stats.refreshes_completed, 0);
    // Still stale; the claim was released, so the next stale read tries again.
    let (value, served) = cache
        .try_fetch_served("k", 2, FetchOptions::new(), || async {
            Ok::<_, &str>("v2")
        })
        .await
        .unwrap();
    assert_eq!((value, served), ("v1", Served::Stale));
    within("second refresh", cache.wait_for_refreshes()).await;
    assert_eq!(cache.fetch("k", 2, || async { "never" }).await, "v2");
    assert_eq!(cache.stats().refreshes_started, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refresh_that_panics_keeps_the_stale_value_and_releases_its_claim() {
    let cache = seeded().await;
    let stale = cache
        .fetch("k", 2, || async { explode::<&str>("generator exploded") })
        .await;
    assert_eq!(stale, "v1");
    within("panicked refresh", cache.wait_for_refreshes()).await;
    assert_eq!(cache.stats().refreshes_failed, 1);
    assert_eq!(cache.fetch("k", 2, || async { "v2" }).await, "v1");
    within("second refresh", cache.wait_for_refreshes()).await;
    assert_eq!(cache.fetch("k", 2, || async { "never" }).await, "v2");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_err_in_the_caller_is_returned_and_not_cached() {
    let cache = Cache::new();
    let runs = Counter::new();
    for _ in 0..3 {
        let runs = runs.clone();
        let result = cache
            .try_fetch("k", 1, move || async move {
                runs.bump();
                Err::<u32, String>("nope".into())
            })
            .await;
        assert_eq!(result, Err("nope".to_string()));
    }
    assert_eq!(runs.get(), 3, "every call generated: nothing was cached");
    assert_eq!(
        cache
            .try_fetch("k", 1, || async { Ok::<_, String>(5) })
            .await,
        Ok(5)
    );
    assert_eq!(
        cache
            .try_fetch("k", 1, || async { Ok::<_, String>(6) })
            .await,
        Ok(5)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sync_regeneration_that_fails_returns_the_error_and_keeps_the_old_entry() {
    let cache = seeded().await;
    let force = FetchOptions::new().force_sync(true);
    let result = cache
        .try_fetch_with("k", 2, force, || async { Err::<&str, _>("nope") })
        .await;
    assert_eq!(result, Err("nope"));
    let (value, served) = cache
        .fetch_served("k", 1, FetchOptions::new(), || async { "never" })
        .await;
    assert_eq!((value, served), ("v1", Served::Hit));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panic_in_the_caller_resumes_there_and_nothing_is_cached() {
    let cache = Cache::new();
    let task = {
        let cache = cache.clone();
        tokio::spawn(async move {
            cache
                .fetch("k", 1, || async { explode::<u32>("boom") })
                .await
        })
    };
    let error: tokio::task::JoinError = within("panicking caller", task).await.unwrap_err();
    assert!(error.is_panic());
    let message = error.into_panic();
    assert_eq!(message.downcast_ref::<&str>(), Some(&"boom"));
    let (value, served) = cache
        .fetch_served("k", 1, FetchOptions::new(), || async { 1 })
        .await;
    assert_eq!((value, served), (1, Served::Miss));
}

/// Collects what a `tracing` subscriber writes.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[test]
fn failed_refreshes_are_logged_at_warn_with_their_locator() {
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(move || writer.clone())
        .with_max_level(tracing::Level::WARN)
        .with_ansi(false)
        .finish();
    // A current-thread runtime on this thread, so the refresh runs under the
    // thread's default subscriber.
    tracing::subscriber::with_default(subscriber, || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        runtime.block_on(async {
            let cache = Cache::new();
            cache.fetch("pages/7", 1, || async { 1 }).await;
            cache
                .try_fetch("pages/7", 2, || async { Err::<i32, _>("database down") })
                .await
                .unwrap();
            cache.fetch("pages/8", 1, || async { 1 }).await;
            cache
                .fetch("pages/8", 2, || async { explode::<i32>("render exploded") })
                .await;
            cache.wait_for_refreshes().await;
        });
    });
    let log = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    let lines: Vec<&str> = log.lines().filter(|l| l.contains("WARN")).collect();
    assert_eq!(lines.len(), 2, "{log}");
    assert!(
        lines[0].contains("pages/7") && lines[0].contains("failed"),
        "{log}"
    );
    assert!(
        lines[1].contains("pages/8") && lines[1].contains("render exploded"),
        "{log}"
    );
}
