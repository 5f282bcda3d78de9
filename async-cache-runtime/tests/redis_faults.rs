//! The faults of contract §5 (crate docs) against a real `redis-server`: down,
//! killed and restarted, stalled, never there, and no tokio runtime. Every fetch still
//! returns a value within a bounded delay, faults are counted, and the cache recovers
//! by itself.
#![cfg(feature = "redis")]

use std::time::{Duration, Instant};

use async_cache_runtime::{Cache, FetchOptions, Redis, Served};
use test_support::RedisServer;

const TIMEOUT: Duration = Duration::from_millis(200);
/// What one fetch may take while Redis is faulty: a read and a write timing out, at
/// most, plus scheduling slack on a loaded 2-core machine.
const BOUND: Duration = Duration::from_millis(2 * 200 + 600);

fn cache(url: &str) -> Cache<Redis> {
    Cache::builder()
        .redis(url)
        .key_prefix("faults:")
        .command_timeout(TIMEOUT)
        .fault_backoff(Duration::from_millis(100))
        .build()
}

async fn timed(cache: &Cache<Redis>, locator: &str, value: &str) -> (String, Served, Duration) {
    let value = value.to_string();
    let start = Instant::now();
    let (got, served) = cache
        .fetch_served(
            locator,
            1_u64,
            FetchOptions::new(),
            move || async move { value },
        )
        .await;
    (got, served, start.elapsed())
}

/// Fetches until one is a hit (the store works again), within `limit`.
async fn until_hit(cache: &Cache<Redis>, locator: &str, limit: Duration) {
    let deadline = Instant::now() + limit;
    loop {
        let (_, served, elapsed) = timed(cache, locator, "recovered").await;
        assert!(elapsed < BOUND, "a fetch took {elapsed:?}");
        if served == Served::Hit {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "the cache did not recover within {limit:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_then_restarted_redis() {
    let mut server = RedisServer::start();
    let cache = cache(&server.url());
    let (value, served, _) = timed(&cache, "k", "before").await;
    assert_eq!((value.as_str(), served), ("before", Served::Miss));
    assert_eq!(timed(&cache, "k", "unused").await.1, Served::Hit);

    server.kill();
    for i in 0..20 {
        let (value, served, elapsed) = timed(&cache, "k", &format!("down {i}")).await;
        assert_eq!((value, served), (format!("down {i}"), Served::Miss));
        assert!(
            elapsed < BOUND,
            "fetch {i} took {elapsed:?} with Redis down"
        );
    }
    // Many callers at once: all bounded.
    let start = Instant::now();
    let results = futures_util::future::join_all((0..50).map(|i| {
        let cache = cache.clone();
        async move { timed(&cache, &format!("k{i}"), "down").await.0 }
    }))
    .await;
    assert!(results.iter().all(|v| v == "down"));
    assert!(start.elapsed() < BOUND, "{:?}", start.elapsed());
    let errors = cache.stats().store_errors;
    assert!(errors >= 20, "store_errors {errors}");

    server.restart();
    until_hit(&cache, "k", Duration::from_secs(10)).await;
    let errors_after = cache.stats().store_errors;
    assert_eq!(timed(&cache, "k", "unused").await.1, Served::Hit);
    assert_eq!(
        cache.stats().store_errors,
        errors_after,
        "no fault once recovered"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stalled_redis_costs_at_most_the_timeout() {
    let server = RedisServer::start();
    let cache: Cache<Redis> = Cache::builder()
        .redis(&server.url())
        .key_prefix("faults:")
        .command_timeout(TIMEOUT)
        .fault_backoff(Duration::from_secs(1))
        .build();
    timed(&cache, "k", "v").await;
    server.stall();
    let (value, served, elapsed) = timed(&cache, "k", "while stalled").await;
    let first = cache.stats().store_errors;
    // Then, within the back-off, without waiting at all.
    let (_, _, quick) = timed(&cache, "k", "while stalled").await;
    let results = futures_util::future::join_all((0..20).map(|_| {
        let cache = cache.clone();
        async move { timed(&cache, "k", "while stalled").await.2 }
    }))
    .await;
    server.resume();
    assert_eq!((value.as_str(), served), ("while stalled", Served::Miss));
    assert!(elapsed >= TIMEOUT && elapsed < BOUND, "{elapsed:?}");
    assert!(first >= 1);
    assert!(quick < TIMEOUT, "{quick:?}");
    assert!(results.iter().all(|&t| t < BOUND), "{results:?}");
    until_hit(&cache, "k", Duration::from_secs(10)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_never_there() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let cache = cache(&format!("redis://127.0.0.1:{port}/"));
    for i in 0..5 {
        let (value, served, elapsed) = timed(&cache, "k", &i.to_string()).await;
        assert_eq!((value, served), (i.to_string(), Served::Miss));
        assert!(elapsed < BOUND, "{elapsed:?}");
    }
    assert!(cache.stats().store_errors >= 5);
    // Stale reads are not possible, but refreshes and invalidations are faults too,
    // never panics.
    cache.invalidate("k").await;
    cache.invalidate_all();
    cache.wait_for_refreshes().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_url_is_no_store_not_a_panic() {
    let cache = cache("not a url");
    let (value, served, _) = timed(&cache, "k", "v").await;
    assert_eq!((value.as_str(), served), ("v", Served::Miss));
    assert!(cache.stats().store_errors >= 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalidate_all_while_down_applies_when_back() {
    let mut server = RedisServer::start();
    let a = cache(&server.url());
    timed(&a, "k", "old").await;
    server.stall();
    a.invalidate_all();
    let (value, ..) = timed(&a, "k", "during").await;
    assert_eq!(value, "during");
    server.resume();
    // Once Redis answers (after the back-off, whenever it ends), the clear lands
    // before any read: "old" is never served, whatever the timing.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (value, served, _) = timed(&a, "k", "after").await;
        assert_ne!(value, "old");
        if served == Served::Hit {
            break;
        }
        assert!(Instant::now() < deadline);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let mut admin = server.admin();
    // At least once: an INCR that timed out in the stall may still have run after it.
    let generation: u64 = redis::cmd("GET")
        .arg(test_support::cache_keys::generation("faults:", "k"))
        .query(&mut admin)
        .unwrap();
    assert!(generation >= 1);
    server.kill();
}

/// Outside any tokio runtime: with the builder's runtime the store works; without
/// one, every access is a counted fault and values are generated, never a panic.
#[test]
fn outside_a_tokio_runtime() {
    let server = RedisServer::start();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let with: Cache<Redis> = Cache::builder()
        .runtime(runtime.handle().clone())
        .redis(&server.url())
        .key_prefix("faults:")
        .build();
    let fetch = |cache: &Cache<Redis>, value: &'static str| {
        futures_executor::block_on(cache.fetch_served(
            "k",
            1_u64,
            FetchOptions::new(),
            move || async move { value.to_string() },
        ))
    };
    assert_eq!(fetch(&with, "v"), ("v".to_string(), Served::Miss));
    assert_eq!(fetch(&with, "unused"), ("v".to_string(), Served::Hit));
    assert_eq!(with.stats().store_errors, 0);

    let without = cache(&server.url());
    assert_eq!(fetch(&without, "w"), ("w".to_string(), Served::Miss));
    assert!(without.stats().store_errors >= 1);
}
