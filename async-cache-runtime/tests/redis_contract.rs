//! Contract §1 to §3 and §5 (crate docs) on the Redis tier, against a real
//! `redis-server` that each test starts. Two `Cache` values on one server and prefix
//! stand for two processes (the two-process tests are in `redis_processes.rs`).
#![cfg(feature = "redis")]

use std::time::{Duration, Instant};

use async_cache_runtime::{Cache, FetchOptions, Redis, Served};
use test_support::{RedisServer, cache_keys};

#[path = "common/shared_tier.rs"]
mod shared_tier;
use shared_tier::{Runs, served};

const PREFIX: &str = "test:";

fn cache(server: &RedisServer) -> Cache<Redis> {
    Cache::builder()
        .redis(&server.url())
        .key_prefix(PREFIX)
        .build()
}

/// The Redis key of `locator`'s entry.
fn entry_key(locator: &str) -> String {
    cache_keys::entry(PREFIX, locator)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn miss_then_hit_in_every_process() {
    let server = RedisServer::start();
    let (a, b) = (cache(&server), cache(&server));
    let runs = Runs::default();
    let first = a
        .fetch_served("things/1", 1_u64, FetchOptions::new(), runs.make("one"))
        .await;
    assert_eq!((first.0.as_str(), first.1), ("one", Served::Miss));
    assert_eq!(
        served(&a, "things/1", 1, &runs).await,
        ("one".into(), Served::Hit)
    );
    // Another process finds it, and an older requested version counts as current.
    assert_eq!(
        served(&b, "things/1", 1, &runs).await,
        ("one".into(), Served::Hit)
    );
    assert_eq!(
        served(&b, "things/1", 0, &runs).await,
        ("one".into(), Served::Hit)
    );
    assert_eq!(runs.get(), 1);
    let stats = a.stats();
    assert_eq!((stats.misses, stats.hits, stats.store_errors), (1, 1, 0));
    assert_eq!(b.stats().store_errors, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stale_then_refreshed_and_lock_released() {
    let server = RedisServer::start();
    let (a, b) = (cache(&server), cache(&server));
    let runs = Runs::default();
    a.fetch("k", 1_u64, runs.make("v1")).await;
    let stale = a
        .fetch_served("k", 2_u64, FetchOptions::new(), runs.make("v2"))
        .await;
    assert_eq!((stale.0.as_str(), stale.1), ("v1", Served::Stale));
    a.wait_for_refreshes().await;
    assert_eq!(served(&a, "k", 2, &runs).await, ("v2".into(), Served::Hit));
    assert_eq!(served(&b, "k", 2, &runs).await, ("v2".into(), Served::Hit));
    assert_eq!(runs.get(), 2);
    let stats = a.stats();
    assert_eq!((stats.refreshes_started, stats.refreshes_completed), (1, 1));
    assert_eq!(stats.store_errors, 0);
    let mut admin = server.admin();
    let lock: bool = redis::cmd("EXISTS")
        .arg(cache_keys::refresh_lock(PREFIX, "k"))
        .query(&mut admin)
        .unwrap();
    assert!(!lock, "the refresh lock is released when the refresh ends");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_downgrade_across_processes() {
    let server = RedisServer::start();
    let (a, b) = (cache(&server), cache(&server));
    let runs = Runs::default();
    a.fetch("k", 1_u64, runs.make("v1")).await;
    // b begins refreshing to version 2, and is held inside its generator...
    let (release, held) = tokio::sync::oneshot::channel::<()>();
    let (entered_tx, entered) = tokio::sync::oneshot::channel::<()>();
    let stale = b
        .fetch("k", 2_u64, move || async move {
            let _ = entered_tx.send(());
            let _ = held.await;
            "v2".to_string()
        })
        .await;
    assert_eq!(stale, "v1");
    entered.await.unwrap();
    // ... while a writes version 3.
    let (v3, how) = a
        .fetch_served(
            "k",
            3_u64,
            FetchOptions::new().force_sync(true),
            runs.make("v3"),
        )
        .await;
    assert_eq!((v3.as_str(), how), ("v3", Served::Sync));
    release.send(()).unwrap();
    b.wait_for_refreshes().await;
    assert_eq!(b.stats().refreshes_completed, 1);
    // b's version 2 did not replace version 3, in Redis or in b.
    let c = cache(&server);
    assert_eq!(served(&c, "k", 3, &runs).await, ("v3".into(), Served::Hit));
    assert_eq!(served(&b, "k", 2, &runs).await, ("v3".into(), Served::Hit));
    // Nor does a direct write of an older version.
    let (old, how) = c
        .fetch_served(
            "k",
            1_u64,
            FetchOptions::new().force_sync(true),
            runs.make("v1 again"),
        )
        .await;
    assert_eq!((old.as_str(), how), ("v3", Served::Hit));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_refreshes_keep_the_old_value() {
    let server = RedisServer::start();
    let a = cache(&server);
    let runs = Runs::default();
    a.fetch("k", 1_u64, runs.make("v1")).await;
    let stale: Result<String, String> = a
        .try_fetch("k", 2_u64, || async { Err("boom".to_string()) })
        .await;
    assert_eq!(stale.unwrap(), "v1");
    a.wait_for_refreshes().await;
    let stale: String = a
        .fetch("k", 2_u64, || async {
            panic!("refresh panics (expected by the test)")
        })
        .await;
    assert_eq!(stale, "v1");
    a.wait_for_refreshes().await;
    assert_eq!(a.stats().refreshes_failed, 2);
    let b = cache(&server);
    assert_eq!(served(&b, "k", 1, &runs).await, ("v1".into(), Served::Hit));
    assert_eq!(a.stats().store_errors, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn errors_are_not_cached() {
    let server = RedisServer::start();
    let a = cache(&server);
    let failed: Result<String, String> =
        a.try_fetch("k", 1_u64, || async { Err("no".into()) }).await;
    assert_eq!(failed.unwrap_err(), "no");
    let mut admin = server.admin();
    assert_eq!(cache_keys::read_entry(&mut admin, PREFIX, "k"), None);
    let ok: Result<String, String> = a.try_fetch("k", 1_u64, || async { Ok("yes".into()) }).await;
    assert_eq!(ok.unwrap(), "yes");
    let (value, how) = a
        .try_fetch_served::<_, String, String, _, _>("k", 1_u64, FetchOptions::new(), || async {
            Err("not called".into())
        })
        .await
        .unwrap();
    assert_eq!((value.as_str(), how), ("yes", Served::Hit));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalidate_and_invalidate_all_reach_every_process() {
    let server = RedisServer::start();
    let (a, b) = (cache(&server), cache(&server));
    let runs = Runs::default();
    a.fetch("k1", 1_u64, runs.make("one")).await;
    a.fetch("k2", 1_u64, runs.make("two")).await;
    a.fetch("k3", 1_u64, runs.make("three")).await;
    b.invalidate("k1").await;
    assert_eq!(served(&a, "k1", 1, &runs).await.1, Served::Miss);

    let old = cache_keys::current_generation(&mut server.admin(), PREFIX, "k1");
    a.invalidate_all();
    // At once in this process ...
    assert_eq!(served(&a, "k1", 1, &runs).await.1, Served::Miss);
    // ... and for the others once it reached Redis (the access above waited for it).
    assert_eq!(served(&b, "k2", 1, &runs).await.1, Served::Miss);
    assert_eq!(served(&b, "k2", 1, &runs).await.1, Served::Hit);

    // The entries of the old generation (k3, not written since) are swept from
    // Redis in the background.
    let mut admin = server.admin();
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let left: bool = redis::cmd("EXISTS")
            .arg(entry_key("k3"))
            .query(&mut admin)
            .unwrap();
        if !left {
            break;
        }
        assert!(Instant::now() < deadline, "old generation not swept");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(cache_keys::read_entry(&mut admin, PREFIX, "k2").is_some());
    let generation = cache_keys::current_generation(&mut admin, PREFIX, "k1");
    assert_eq!(
        generation.parse::<u64>().unwrap(),
        old.parse::<u64>().unwrap() + 1,
        "one increment for one invalidate_all"
    );
    assert_eq!(a.stats().store_errors + b.stats().store_errors, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_build_is_stale_and_other_types_miss() {
    let server = RedisServer::start();
    let (a, b) = (cache(&server), cache(&server));
    let runs = Runs::default();
    a.fetch_with(
        "k",
        1_u64,
        FetchOptions::new().fingerprint(1),
        runs.make("build 1"),
    )
    .await;
    let (value, how) = b
        .fetch_served(
            "k",
            1_u64,
            FetchOptions::new().fingerprint(2),
            runs.make("build 2"),
        )
        .await;
    assert_eq!((value.as_str(), how), ("build 1", Served::Stale));
    b.wait_for_refreshes().await;
    let (value, how) = a
        .fetch_served(
            "k",
            1_u64,
            FetchOptions::new().fingerprint(2),
            runs.make("unused"),
        )
        .await;
    assert_eq!((value.as_str(), how), ("build 2", Served::Hit));

    // The same locator read as other types: a miss, then overwritten.
    let (number, how) = a
        .fetch_served("k", 1_u64, FetchOptions::new(), || async { 7_u32 })
        .await;
    assert_eq!((number, how), (7, Served::Miss));
    let (number, how) = b
        .fetch_served("k", 1_u64, FetchOptions::new(), || async { 8_u32 })
        .await;
    assert_eq!((number, how), (7, Served::Hit));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expiry_is_a_redis_ttl() {
    let server = RedisServer::start();
    let a = cache(&server);
    a.fetch_with(
        "k",
        1_u64,
        FetchOptions::new().expires_in(Duration::from_secs(60)),
        || async { "v".to_string() },
    )
    .await;
    let mut admin = server.admin();
    let pttl: i64 = redis::cmd("PTTL")
        .arg(entry_key("k"))
        .query(&mut admin)
        .unwrap();
    assert!((1..=60_000).contains(&pttl), "PTTL {pttl}");
    a.fetch("forever", 1_u64, || async { "v".to_string() })
        .await;
    let pttl: i64 = redis::cmd("PTTL")
        .arg(entry_key("forever"))
        .query(&mut admin)
        .unwrap();
    assert_eq!(pttl, -1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn values_over_the_limit_are_served_not_stored() {
    let server = RedisServer::start();
    let a: Cache<Redis> = Cache::builder()
        .redis(&server.url())
        .key_prefix(PREFIX)
        .max_value_bytes(100)
        .build();
    let runs = Runs::default();
    let big = "x".repeat(1000);
    let make = |runs: &Runs| runs.make(&"x".repeat(1000));
    assert_eq!(a.fetch("big", 1_u64, make(&runs)).await, big);
    assert_eq!(a.fetch("big", 1_u64, make(&runs)).await, big);
    assert_eq!(runs.get(), 2, "not stored, so generated each time");
    assert_eq!(a.fetch("small", 1_u64, runs.make("s")).await, "s");
    assert_eq!(
        served(&a, "small", 1, &runs).await,
        ("s".into(), Served::Hit)
    );
    assert_eq!(a.stats().store_errors, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn undecodable_bytes_are_a_miss_then_overwritten() {
    let server = RedisServer::start();
    let a = cache(&server);
    // One access of the locator first, so that its bucket's generation exists.
    a.fetch("k", 1_u64, || async { "o".to_string() }).await;
    let mut admin = server.admin();
    cache_keys::write_entry(&mut admin, PREFIX, "k", b"\xa1not a record at all");
    let runs = Runs::default();
    assert_eq!(
        served(&a, "k", 1, &runs).await,
        ("generated".into(), Served::Miss)
    );
    assert_eq!(
        served(&a, "k", 1, &runs).await,
        ("generated".into(), Served::Hit)
    );
    let bytes = cache_keys::read_entry(&mut admin, PREFIX, "k").expect("rewritten");
    assert_eq!(bytes[0], 0xA2);
    assert_ne!(&bytes[1..], b"not a record at all");
    assert_eq!(a.stats().store_errors, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crashed_holders_lock_expires() {
    let server = RedisServer::start();
    let a: Cache<Redis> = Cache::builder()
        .redis(&server.url())
        .key_prefix(PREFIX)
        .build();
    let runs = Runs::default();
    a.fetch("k", 1_u64, runs.make("v1")).await;
    // A process that died while refreshing "k" left its lock.
    let mut admin = server.admin();
    let _: () = redis::cmd("SET")
        .arg(cache_keys::refresh_lock(PREFIX, "k"))
        .arg("dead process")
        .arg("PX")
        .arg(300)
        .query(&mut admin)
        .unwrap();
    assert_eq!(served(&a, "k", 2, &runs).await.1, Served::Stale);
    a.wait_for_refreshes().await;
    assert_eq!(runs.get(), 1, "the lock holder refreshes, not this process");
    assert_eq!(served(&a, "k", 2, &runs).await.0, "v1");
    a.wait_for_refreshes().await;
    // Once the lock expires, a stale read refreshes.
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let held: bool = redis::cmd("EXISTS")
            .arg(cache_keys::refresh_lock(PREFIX, "k"))
            .query(&mut admin)
            .unwrap();
        if !held {
            break;
        }
        assert!(Instant::now() < deadline);
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(
        served(&a, "k", 2, &runs).await,
        ("v1".into(), Served::Stale)
    );
    a.wait_for_refreshes().await;
    assert_eq!(
        served(&a, "k", 2, &runs).await,
        ("generated".into(), Served::Hit)
    );
    assert_eq!(runs.get(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn near_cache_serves_hot_entries_and_sees_others_after_its_ttl() {
    let server = RedisServer::start();
    let near: Cache<Redis> = Cache::builder()
        .redis(&server.url())
        .key_prefix(PREFIX)
        .near_cache(Duration::from_secs(1))
        .build();
    let other = cache(&server);
    let runs = Runs::default();
    near.fetch("k", 1_u64, runs.make("v1")).await;
    // Served from memory even with Redis frozen.
    server.stall();
    let start = Instant::now();
    let hit = served(&near, "k", 1, &runs).await;
    let elapsed = start.elapsed();
    server.resume();
    assert_eq!(hit, ("v1".into(), Served::Hit));
    assert!(elapsed < Duration::from_millis(100), "{elapsed:?}");
    assert_eq!(near.stats().store_errors, 0);
    // Another process's write is seen here within the TTL at the latest (through
    // the backplane, in milliseconds).
    other.invalidate("k").await;
    other.fetch("k", 2_u64, runs.make("v2")).await;
    let deadline = Instant::now() + Duration::from_millis(1100);
    loop {
        let seen = served(&near, "k", 1, &runs).await;
        if seen == ("v2".into(), Served::Hit) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "still {seen:?} past the near ttl"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // This process's own invalidation is seen at once.
    near.invalidate("k").await;
    assert_eq!(served(&near, "k", 2, &runs).await.1, Served::Miss);
    near.invalidate_all();
    assert_eq!(served(&near, "k", 2, &runs).await.1, Served::Miss);
}
