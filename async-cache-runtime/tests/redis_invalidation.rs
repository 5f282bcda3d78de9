//! Invalidations made during a fault (contract §5 "Nothing acknowledged is lost",
//! crate docs; issue 11, item 4): kept, applied once Redis answers, and never
//! served meanwhile by the process that made them. Against a real `redis-server`.
#![cfg(feature = "redis")]

use std::time::{Duration, Instant};

use async_cache_runtime::{Cache, FetchOptions, Redis, Served};
use test_support::RedisServer;

const TIMEOUT: Duration = Duration::from_millis(150);
/// Long enough that the test's steps run inside it on a loaded machine.
const BACKOFF: Duration = Duration::from_secs(2);

fn cache(server: &RedisServer, near: bool) -> Cache<Redis> {
    let builder = Cache::builder()
        .redis(&server.url())
        .key_prefix("inv:")
        .command_timeout(TIMEOUT)
        .fault_backoff(BACKOFF);
    if near {
        builder.near_cache(Duration::from_secs(60)).build()
    } else {
        builder.build()
    }
}

async fn fetch(cache: &Cache<Redis>, locator: &str, value: &str) -> (String, Served) {
    let value = value.to_string();
    cache
        .fetch_served(
            locator,
            1_u64,
            FetchOptions::new(),
            move || async move { value },
        )
        .await
}

/// Puts `cache` into its fault back-off: a stalled server makes one read time out.
async fn trip_backoff(server: &RedisServer, cache: &Cache<Redis>) {
    let errors = cache.stats().store_errors;
    server.stall();
    let _ = fetch(cache, "trip", "x").await;
    server.resume();
    assert!(
        cache.stats().store_errors > errors,
        "the fault was not seen"
    );
}

/// Issue 11, item 4: during the back-off `invalidate` sent nothing and forgot only
/// the near copy; after it, the old value was a hit again in every process, forever.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invalidation_made_during_a_fault_is_applied_once_redis_answers() {
    let server = RedisServer::start();
    let a = cache(&server, true);
    let b = cache(&server, false);
    assert_eq!(fetch(&a, "k", "old").await, ("old".into(), Served::Miss));
    assert_eq!(fetch(&a, "k", "unused").await, ("old".into(), Served::Hit));
    assert_eq!(fetch(&b, "k", "unused").await, ("old".into(), Served::Hit));

    trip_backoff(&server, &a).await;
    let tripped = Instant::now();
    a.invalidate("k").await;
    // This process never serves what it invalidated: not from its near cache, not
    // from Redis while the removal is pending.
    let (value, served) = fetch(&a, "k", "during").await;
    assert_eq!((value.as_str(), served), ("during", Served::Miss));
    assert!(
        tripped.elapsed() < BACKOFF,
        "the steps above ran past the back-off: the test proves nothing"
    );

    // Once Redis answers, the removal reaches it without this process touching "k":
    // another process stops seeing the old value.
    let deadline = Instant::now() + BACKOFF + Duration::from_secs(10);
    loop {
        let (value, served) = fetch(&b, "k", "new").await;
        if value != "old" {
            assert_eq!(served, Served::Miss);
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the invalidation made during the fault never reached Redis"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (value, _) = fetch(&a, "k", "unused").await;
    assert_ne!(value, "old");
}

/// Pending invalidations are bounded: past the bound they become one pending
/// `invalidate_all`, which removes at least everything they would have.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pending_invalidations_are_bounded_by_becoming_an_invalidate_all() {
    let server = RedisServer::start();
    let a = cache(&server, true);
    let b = cache(&server, false);
    for locator in ["k", "other"] {
        assert_eq!(fetch(&a, locator, "old").await.1, Served::Miss);
    }
    trip_backoff(&server, &a).await;
    let tripped = Instant::now();
    for i in 0..10_001 {
        a.invalidate(format!("gone/{i}")).await;
    }
    a.invalidate("k").await;
    for locator in ["k", "other"] {
        assert_ne!(fetch(&a, locator, "during").await.0, "old");
    }
    assert!(
        tripped.elapsed() < BACKOFF,
        "past the back-off: proves nothing"
    );
    let deadline = Instant::now() + BACKOFF + Duration::from_secs(10);
    for locator in ["k", "other"] {
        loop {
            if fetch(&b, locator, "new").await.0 != "old" {
                break;
            }
            assert!(Instant::now() < deadline, "{locator}: never invalidated");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}
