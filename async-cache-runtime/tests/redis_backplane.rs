//! Coherent near caches (contract §7.2, crate docs): one process's writes and
//! invalidations reach another process's near cache within milliseconds, through a
//! pub/sub channel; a lost subscription falls back to the near cache's ttl and
//! clears it once it is back. Two `Cache` values over one server stand for two
//! processes. Against a real `redis-server`.
#![cfg(feature = "redis")]

use std::time::{Duration, Instant};

use async_cache_runtime::{Cache, FetchOptions, Redis, Served};
use test_support::RedisServer;

const PREFIX: &str = "bp:";
const CHANNEL: &str = "bp:swr:events";

fn near(server: &RedisServer, ttl: Duration) -> Cache<Redis> {
    Cache::builder()
        .redis(&server.url())
        .key_prefix(PREFIX)
        .near_cache(ttl)
        .build()
}

/// What a caller that asks for no particular version is served: any record is
/// current for it, so a stale near copy would be a hit.
async fn seen(cache: &Cache<Redis>) -> String {
    cache
        .fetch_with("k", 0_u64, FetchOptions::new(), || async {
            "absent".to_string()
        })
        .await
}

/// Writes version `v` of "k" from `cache`, in the caller, before returning.
async fn write(cache: &Cache<Redis>, v: u64) {
    let value = format!("v{v}");
    cache
        .fetch_with(
            "k",
            v,
            FetchOptions::new().force_sync(true),
            move || async { value },
        )
        .await;
}

/// Until `cache` is served `want`, or `limit` passes: how long it took.
async fn until_seen(cache: &Cache<Redis>, want: &str, limit: Duration) -> Option<Duration> {
    let start = Instant::now();
    loop {
        if seen(cache).await == want {
            return Some(start.elapsed());
        }
        if start.elapsed() > limit {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}

fn subscribers(server: &RedisServer) -> u64 {
    let (_, count): (String, u64) = redis::cmd("PUBSUB")
        .arg("NUMSUB")
        .arg(CHANNEL)
        .query::<(String, u64)>(&mut server.admin())
        .unwrap();
    count
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_processs_writes_reach_the_near_cache_within_milliseconds() {
    const TRIALS: u64 = 200;
    let server = RedisServer::start();
    let a = near(&server, Duration::from_secs(600));
    let b = near(&server, Duration::from_secs(600));
    write(&a, 1).await;
    assert_eq!(seen(&b).await, "v1");
    assert_eq!(
        subscribers(&server),
        2,
        "both subscribed by their first access"
    );

    let mut delays = Vec::new();
    for v in 2..2 + TRIALS {
        assert_eq!(
            seen(&b).await,
            format!("v{}", v - 1),
            "b holds the old copy"
        );
        let start = Instant::now();
        write(&a, v).await;
        let waited = until_seen(&b, &format!("v{v}"), Duration::from_secs(5))
            .await
            .unwrap_or_else(|| panic!("b never saw v{v} (its near cache ttl is 10 min)"));
        assert!(waited <= start.elapsed());
        delays.push(start.elapsed());
    }
    delays.sort();
    let p50 = delays[delays.len() / 2];
    let p99 = delays[delays.len() * 99 / 100];
    println!("near-cache coherence delay over {TRIALS} writes: p50 {p50:?}, p99 {p99:?}");
    assert!(p99 < Duration::from_millis(100), "p99 {p99:?}");

    // Invalidations and invalidate_all reach it too.
    a.invalidate("k").await;
    assert!(
        until_seen(&b, "absent", Duration::from_secs(1))
            .await
            .is_some()
    );
    write(&a, 1_000).await;
    assert!(
        until_seen(&b, "v1000", Duration::from_secs(1))
            .await
            .is_some()
    );
    a.invalidate_all();
    write(&a, 1).await; // after the clear: an older version is stored again
    assert!(until_seen(&b, "v1", Duration::from_secs(1)).await.is_some());
    assert_eq!(a.stats().store_errors + b.stats().store_errors, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_subscription_falls_back_to_the_ttl_and_recovers() {
    const TTL: Duration = Duration::from_millis(1500);
    let server = RedisServer::start();
    let a = near(&server, TTL);
    let b = near(&server, TTL);
    write(&a, 1).await;
    assert_eq!(seen(&b).await, "v1");
    assert_eq!(subscribers(&server), 2);

    let killed: u64 = redis::cmd("CLIENT")
        .arg("KILL")
        .arg("TYPE")
        .arg("pubsub")
        .query(&mut server.admin())
        .unwrap();
    assert_eq!(killed, 2);
    // Whether a write lands before or after b subscribes again, b sees it within
    // the ttl: the subscription, once back, clears its near cache.
    write(&a, 2).await;
    let waited = until_seen(&b, "v2", TTL + Duration::from_secs(2)).await;
    assert!(waited.is_some(), "b kept a copy past its ttl");

    // Subscribed again: coherent within milliseconds once more.
    let deadline = Instant::now() + Duration::from_secs(5);
    while subscribers(&server) < 2 {
        assert!(Instant::now() < deadline, "not subscribed again");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(seen(&b).await, "v2");
    write(&a, 3).await;
    let waited = until_seen(&b, "v3", TTL / 2).await;
    assert!(waited.is_some(), "b did not see v3 within half its ttl");
    assert_eq!(seen(&b).await, "v3");
    assert_eq!(
        b.fetch_served("k", 3_u64, FetchOptions::new(), || async {
            "unused".to_string()
        })
        .await,
        ("v3".to_string(), Served::Hit)
    );
}

/// A write event names its version: a near copy of that version or a newer one is
/// kept (no round trip), an older one is dropped.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_copy_as_new_as_the_written_version_is_kept() {
    let server = RedisServer::start();
    let a = near(&server, Duration::from_secs(600));
    let b = near(&server, Duration::from_secs(600));
    write(&a, 5).await;
    assert_eq!(seen(&b).await, "v5");
    // The entry leaves Redis without an event (as by its expiry), and an older
    // version is written there: b's copy is newer than what the event names.
    let mut admin = server.admin();
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg("bp:*:e:*k")
        .query(&mut admin)
        .unwrap();
    assert_eq!(keys.len(), 1, "{keys:?}");
    let _: () = redis::cmd("DEL").arg(&keys[0]).query(&mut admin).unwrap();
    let c = Cache::builder()
        .redis(&server.url())
        .key_prefix(PREFIX)
        .build();
    let sentinel = |cache: &Cache<Redis>, v: u64| {
        let cache = cache.clone();
        async move {
            cache
                .fetch_with(
                    "s",
                    v,
                    FetchOptions::new().force_sync(true),
                    move || async move { format!("s{v}") },
                )
                .await
        }
    };
    let seen_sentinel = |cache: &Cache<Redis>| {
        let cache = cache.clone();
        async move {
            cache
                .fetch("s", 0_u64, || async { "absent".to_string() })
                .await
        }
    };
    sentinel(&c, 1).await;
    assert_eq!(seen_sentinel(&b).await, "s1");
    write(&c, 3).await;
    // Events from one publisher arrive in order: once b sees s2, it has had the
    // event of v3, and kept its newer copy (from Redis it would be served v3).
    sentinel(&c, 2).await;
    let deadline = Instant::now() + Duration::from_secs(1);
    while seen_sentinel(&b).await != "s2" {
        assert!(Instant::now() < deadline, "b never saw s2");
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    assert_eq!(seen(&b).await, "v5", "the newer copy was dropped");
    // A newer version: b's copy is older, dropped, and b reads v6 from Redis.
    write(&c, 6).await;
    assert!(until_seen(&b, "v6", Duration::from_secs(1)).await.is_some());
    assert_eq!(b.stats().store_errors, 0);
}
