//! Long refreshes stay single (contract §7.3, crate docs): the refresh lock is renewed
//! while its refresh runs, and a crashed holder's lock still expires. Two `Cache`
//! values over one server stand for two processes. Real time is the point here (the
//! lock's ttl in Redis), so the margins are generous. Against a real `redis-server`.
#![cfg(feature = "redis")]

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::time::{Duration, Instant};

use async_cache_runtime::{Cache, FetchOptions, Redis, Served};
use test_support::RedisServer;
use tokio::sync::Notify;

const TTL: Duration = Duration::from_millis(300);

fn cache(server: &RedisServer) -> Cache<Redis> {
    Cache::builder()
        .redis(&server.url())
        .key_prefix("lock:")
        .refresh_lock_ttl(TTL)
        .build()
}

/// A stale read of version 2 whose refresh, if it runs, counts and returns `value`.
async fn stale_read(cache: &Cache<Redis>, runs: &Arc<AtomicUsize>, value: &str) -> Served {
    let (runs, value) = (runs.clone(), value.to_string());
    let (_, served) = cache
        .fetch_served("k", 2_u64, FetchOptions::new(), move || async move {
            runs.fetch_add(1, SeqCst);
            value
        })
        .await;
    served
}

/// A refresh in `cache` that signals `started` and then waits for `release`.
async fn held_refresh(cache: &Cache<Redis>, started: &Arc<Notify>, release: &Arc<Notify>) {
    let (started, release) = (started.clone(), release.clone());
    let (_, served) = cache
        .fetch_served("k", 2_u64, FetchOptions::new(), move || async move {
            started.notify_one();
            release.notified().await;
            "v2 from the holder".to_string()
        })
        .await;
    assert_eq!(served, Served::Stale);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refresh_that_outlives_its_lock_ttl_three_times_over_is_still_the_only_one() {
    let server = RedisServer::start();
    let (a, b) = (cache(&server), cache(&server));
    a.fetch("k", 1_u64, || async { "v1".to_string() }).await;
    let (started, release) = (Arc::new(Notify::new()), Arc::new(Notify::new()));
    held_refresh(&a, &started, &release).await;
    started.notified().await;

    let b_runs = Arc::new(AtomicUsize::new(0));
    let until = Instant::now() + 3 * TTL + TTL / 2;
    while Instant::now() < until {
        let served = stale_read(&b, &b_runs, "v2 from b").await;
        assert_eq!(served, Served::Stale, "the lock lapsed: b refreshed");
        b.wait_for_refreshes().await;
        tokio::time::sleep(TTL / 6).await;
    }
    assert_eq!(b_runs.load(SeqCst), 0, "a second process refreshed too");
    assert!(b.stats().refreshes_elsewhere > 0);

    release.notify_one();
    a.wait_for_refreshes().await;
    let (value, served) = b
        .fetch_served("k", 2_u64, FetchOptions::new(), || async {
            "unused".to_string()
        })
        .await;
    assert_eq!(
        (value.as_str(), served),
        ("v2 from the holder", Served::Hit)
    );
    assert_eq!(a.stats().store_errors + b.stats().store_errors, 0);
}

/// The holder's process dies mid-refresh (its runtime, renewal task included, is
/// shut down): its lock lapses one ttl after the last renewal, and another process
/// refreshes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crashed_holders_renewed_lock_still_expires() {
    let server = RedisServer::start();
    let holder_runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let a = cache(&server);
    let (started, release) = (Arc::new(Notify::new()), Arc::new(Notify::new()));
    {
        let (a, started, release) = (a.clone(), started.clone(), release.clone());
        holder_runtime
            .spawn(async move {
                a.fetch("k", 1_u64, || async { "v1".to_string() }).await;
                held_refresh(&a, &started, &release).await;
            })
            .await
            .unwrap();
    }
    started.notified().await;
    let b = cache(&server);
    let b_runs = Arc::new(AtomicUsize::new(0));
    // Held past its ttl while the holder lives ...
    tokio::time::sleep(2 * TTL).await;
    assert_eq!(stale_read(&b, &b_runs, "v2 from b").await, Served::Stale);
    b.wait_for_refreshes().await;
    assert_eq!(b_runs.load(SeqCst), 0);

    // ... and not long after it died.
    holder_runtime.shutdown_background();
    let died = Instant::now();
    while b_runs.load(SeqCst) == 0 {
        assert!(
            died.elapsed() < TTL * 2 + Duration::from_secs(2),
            "the dead holder's lock did not expire"
        );
        tokio::time::sleep(TTL / 6).await;
        stale_read(&b, &b_runs, "v2 from b").await;
        b.wait_for_refreshes().await;
    }
    let (value, _) = b
        .fetch_served("k", 2_u64, FetchOptions::new(), || async {
            "unused".to_string()
        })
        .await;
    assert_eq!(value, "v2 from b");
    drop(release);
}
