//! The shared tier over a Redis Cluster (contract §7.4, crate docs): the contract
//! tests of one server run again over a real cluster of three primaries that each
//! test starts (`redis-server --cluster-enabled yes` on loopback ports), with the
//! keys of one locator in one slot and entries spread over every primary; and a
//! failover (a primary killed, its replica taking over) survived with every fetch
//! answered and recovery without a restart. Separate `Cache` values over one cluster
//! and prefix stand for separate processes.
#![cfg(feature = "redis")]

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::time::{Duration, Instant};

use async_cache_runtime::{Cache, FetchOptions, Redis, Served};
use test_support::cache_keys;
use test_support::redis_server::RedisCluster;
use tokio::sync::Notify;

#[path = "common/shared_tier.rs"]
mod shared_tier;
use shared_tier::{Runs, served};

const PREFIX: &str = "cl:";

fn builder(cluster: &RedisCluster) -> async_cache_runtime::CacheBuilder<Redis> {
    let urls = cluster.urls();
    let urls: Vec<&str> = urls.iter().map(String::as_str).collect();
    Cache::builder().redis_cluster(&urls).key_prefix(PREFIX)
}

fn cache(cluster: &RedisCluster) -> Cache<Redis> {
    builder(cluster).build()
}

/// An admin connection to the node serving `key` now.
fn admin_for(cluster: &RedisCluster, key: &str) -> redis::Connection {
    cluster.node(cluster.node_serving(key)).admin()
}

fn exists(cluster: &RedisCluster, key: &str) -> bool {
    redis::cmd("EXISTS")
        .arg(key)
        .query(&mut admin_for(cluster, key))
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fetch_stale_refresh_once_and_no_downgrade_over_a_cluster() {
    let cluster = RedisCluster::start(3);
    let (a, b) = (cache(&cluster), cache(&cluster));
    let runs = Runs::default();
    assert_eq!(
        served(&a, "k", 1, &runs).await,
        ("generated".into(), Served::Miss)
    );
    assert_eq!(
        served(&b, "k", 1, &runs).await,
        ("generated".into(), Served::Hit)
    );
    assert_eq!(runs.get(), 1);

    // A newer version: stale at once in both, refreshed once between them.
    let (_, how) = a
        .fetch_served("k", 2_u64, FetchOptions::new(), runs.make("v2"))
        .await;
    assert_eq!(how, Served::Stale);
    a.wait_for_refreshes().await;
    assert_eq!(runs.get(), 2);
    assert_eq!(
        b.fetch_served("k", 2_u64, FetchOptions::new(), runs.make("unused"))
            .await,
        ("v2".into(), Served::Hit)
    );
    let lock = cache_keys::refresh_lock(PREFIX, "k");
    assert!(!exists(&cluster, &lock), "the refresh lock is released");

    // No downgrade: b's refresh to version 3, held inside its generator, lands
    // after a wrote version 4, and does not replace it.
    let (release, held) = tokio::sync::oneshot::channel::<()>();
    let (entered_tx, entered) = tokio::sync::oneshot::channel::<()>();
    let stale = b
        .fetch("k", 3_u64, move || async move {
            let _ = entered_tx.send(());
            let _ = held.await;
            "v3".to_string()
        })
        .await;
    assert_eq!(stale, "v2");
    entered.await.unwrap();
    let (v4, how) = a
        .fetch_served(
            "k",
            4_u64,
            FetchOptions::new().force_sync(true),
            runs.make("v4"),
        )
        .await;
    assert_eq!((v4.as_str(), how), ("v4", Served::Sync));
    release.send(()).unwrap();
    b.wait_for_refreshes().await;
    assert_eq!(b.stats().refreshes_completed, 1);
    let c = cache(&cluster);
    assert_eq!(served(&c, "k", 4, &runs).await, ("v4".into(), Served::Hit));

    // Builds: another build's record of the same version is stale for the newer
    // build (the builds hash is one key, in one slot).
    a.fetch_with(
        "b",
        1_u64,
        FetchOptions::new().fingerprint(1),
        runs.make("build 1"),
    )
    .await;
    let (value, how) = b
        .fetch_served(
            "b",
            1_u64,
            FetchOptions::new().fingerprint(2),
            runs.make("build 2"),
        )
        .await;
    assert_eq!((value.as_str(), how), ("build 1", Served::Stale));
    b.wait_for_refreshes().await;
    assert_eq!(
        a.fetch_served(
            "b",
            1_u64,
            FetchOptions::new().fingerprint(2),
            runs.make("unused")
        )
        .await,
        ("build 2".into(), Served::Hit)
    );
    assert_eq!(a.stats().store_errors + b.stats().store_errors, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_slot_per_locator_entries_on_every_primary_invalidate_all_across_slots() {
    let cluster = RedisCluster::start(3);
    let (a, b) = (cache(&cluster), cache(&cluster));
    let runs = Runs::default();
    // The application's own keys, under the same prefix, on every node.
    let theirs: Vec<String> = (0..30).map(|i| format!("{PREFIX}{i}:cart")).collect();
    for key in &theirs {
        let _: () = redis::cmd("SET")
            .arg(key)
            .arg("theirs")
            .query(&mut admin_for(&cluster, key))
            .unwrap();
    }

    const LOCATORS: usize = 60;
    let locators: Vec<String> = (0..LOCATORS).map(|i| format!("things/{i}")).collect();
    for locator in &locators {
        assert_eq!(served(&a, locator, 1, &runs).await.1, Served::Miss);
    }
    // The refresh lock and miss lock of a locator go where its entry is.
    let mut primaries = HashSet::new();
    let mut slots = HashSet::new();
    for locator in &locators {
        let entry = cache_keys::entry(PREFIX, locator);
        let slot = cluster.keyslot(&entry);
        assert_eq!(
            slot,
            cluster.keyslot(&cache_keys::generation(PREFIX, locator))
        );
        assert_eq!(
            slot,
            cluster.keyslot(&cache_keys::refresh_lock(PREFIX, locator))
        );
        assert_eq!(
            slot,
            cluster.keyslot(&cache_keys::miss_lock(PREFIX, locator))
        );
        let count: u64 = redis::cmd("CLUSTER")
            .arg("COUNTKEYSINSLOT")
            .arg(slot)
            .query(&mut admin_for(&cluster, &entry))
            .unwrap();
        assert!(
            count >= 2,
            "the entry and its generation in slot {slot}: {count}"
        );
        assert!(
            exists(&cluster, &entry),
            "{entry} on the node serving its slot"
        );
        slots.insert(slot);
        primaries.insert(cluster.node_serving(&entry));
    }
    assert!(
        slots.len() > LOCATORS / 2,
        "locators spread over slots: {}",
        slots.len()
    );
    assert_eq!(primaries.len(), 3, "entries on every primary");
    let db_sizes: Vec<u64> = cluster
        .nodes()
        .iter()
        .map(|node| redis::cmd("DBSIZE").query(&mut node.admin()).unwrap())
        .collect();
    assert!(db_sizes.iter().all(|&n| n > 0), "{db_sizes:?}");

    // invalidate and invalidate_all reach every slot, for every process.
    b.invalidate("things/0").await;
    assert_eq!(served(&a, "things/0", 1, &runs).await.1, Served::Miss);
    a.invalidate_all();
    // At once in this process (its next access waits for every slot's bump) ...
    assert_eq!(served(&a, "things/1", 1, &runs).await.1, Served::Miss);
    // ... and for the others, in every slot.
    for locator in &locators[2..] {
        assert_eq!(
            served(&b, locator, 1, &runs).await.1,
            Served::Miss,
            "{locator}"
        );
    }
    for locator in &locators[1..] {
        assert_eq!(
            served(&a, locator, 1, &runs).await.1,
            Served::Hit,
            "{locator}"
        );
    }
    // The sweep (a SCAN on every primary) frees what was not written again, and
    // touches nothing else.
    let untouched: Vec<String> = (0..LOCATORS).map(|i| format!("left/{i}")).collect();
    for locator in &untouched {
        a.fetch(locator, 1_u64, runs.make("left")).await;
    }
    a.invalidate_all();
    assert_eq!(served(&a, "things/1", 1, &runs).await.1, Served::Miss);
    let deadline = Instant::now() + Duration::from_secs(10);
    for locator in &untouched {
        let key = cache_keys::entry(PREFIX, locator);
        while exists(&cluster, &key) {
            assert!(Instant::now() < deadline, "{key} not swept");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    for key in &theirs {
        let value: Option<String> = redis::cmd("GET")
            .arg(key)
            .query(&mut admin_for(&cluster, key))
            .unwrap();
        assert_eq!(value.as_deref(), Some("theirs"), "{key} was touched");
    }
    assert_eq!(a.stats().store_errors + b.stats().store_errors, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn time_and_failure_over_a_cluster_put_expire_and_fallbacks() {
    let cluster = RedisCluster::start(3);
    let (a, b) = (cache(&cluster), cache(&cluster));
    let pttl = || -> i64 {
        let key = cache_keys::entry(PREFIX, "k");
        redis::cmd("PTTL")
            .arg(&key)
            .query(&mut admin_for(&cluster, &key))
            .unwrap()
    };
    // put: write-through, never a downgrade, across processes.
    assert!(a.put("k", 2_u64, "two".to_string()).await);
    assert!(!b.put("k", 1_u64, "one".to_string()).await);
    let runs = Runs::default();
    assert_eq!(served(&b, "k", 2, &runs).await, ("two".into(), Served::Hit));

    // A fallback kept in Redis for expires_in + fail_safe, marked in place by expire.
    let long = Duration::from_secs(60);
    let (value, how) = a
        .fetch_served(
            "k",
            5_u64,
            FetchOptions::new().expires_in(long).fail_safe(long),
            runs.make("v5"),
        )
        .await;
    assert_eq!((value.as_str(), how), ("two", Served::Stale));
    a.wait_for_refreshes().await;
    let before = pttl();
    assert!(
        before > 60_000,
        "kept for expires_in + fail_safe: PTTL {before}"
    );
    a.expire("k").await;
    let after = pttl();
    assert!(
        after > 0 && after <= before,
        "marked, its time to live kept: {after}"
    );
    let failing = || async { Err::<String, String>("backend down".into()) };
    let (value, how) = b
        .try_fetch_served(
            "k",
            5_u64,
            FetchOptions::new().fail_safe(long).force_sync(true),
            failing,
        )
        .await
        .unwrap();
    assert_eq!((value.as_str(), how), ("v5", Served::FailSafe));
    // invalidate removes: no fallback left.
    a.invalidate("k").await;
    assert_eq!(pttl(), -2);
    assert!(
        b.try_fetch_served(
            "k",
            5_u64,
            FetchOptions::new().fail_safe(long).force_sync(true),
            failing,
        )
        .await
        .is_err()
    );
    assert_eq!(a.stats().store_errors + b.stats().store_errors, 0);
}

/// What a caller that asks for no particular version is served.
async fn seen(cache: &Cache<Redis>) -> String {
    cache
        .fetch_with("k", 0_u64, FetchOptions::new(), || async {
            "absent".to_string()
        })
        .await
}

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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn near_caches_stay_coherent_over_a_cluster() {
    const TRIALS: u64 = 50;
    let cluster = RedisCluster::start(3);
    let near = || {
        builder(&cluster)
            .near_cache(Duration::from_secs(600))
            .build()
    };
    let (a, b) = (near(), near());
    write(&a, 1).await;
    assert_eq!(seen(&b).await, "v1");
    let mut delays = Vec::new();
    for v in 2..2 + TRIALS {
        let start = Instant::now();
        write(&a, v).await;
        until_seen(&b, &format!("v{v}"), Duration::from_secs(5))
            .await
            .unwrap_or_else(|| panic!("b never saw v{v} (its near cache ttl is 10 min)"));
        delays.push(start.elapsed());
    }
    delays.sort();
    let p99 = delays[delays.len() * 99 / 100];
    assert!(p99 < Duration::from_millis(100), "p99 {p99:?}");
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
async fn the_miss_lock_and_the_refresh_lock_hold_over_a_cluster() {
    let cluster = RedisCluster::start(3);
    let process = || {
        builder(&cluster)
            .miss_lock_timeout(Duration::from_secs(10))
            .refresh_lock_ttl(Duration::from_millis(300))
            .build()
    };
    let processes: Vec<Cache<Redis>> = (0..3).map(|_| process()).collect();

    // A cold herd over three processes: the generator runs once.
    let runs = Arc::new(AtomicUsize::new(0));
    let mut callers = Vec::new();
    for cache in &processes {
        for _ in 0..30 {
            let (cache, runs) = (cache.clone(), runs.clone());
            callers.push(tokio::spawn(async move {
                cache
                    .fetch_served("home", 1_u64, FetchOptions::new(), move || async move {
                        runs.fetch_add(1, SeqCst);
                        tokio::time::sleep(Duration::from_millis(500)).await;
                        "rendered".to_string()
                    })
                    .await
            }));
        }
    }
    for caller in callers {
        assert_eq!(
            caller.await.unwrap(),
            ("rendered".to_string(), Served::Miss)
        );
    }
    assert_eq!(runs.load(SeqCst), 1, "the generator ran once for the fleet");

    // A refresh that outlives its lock's ttl three times over stays the only one.
    let (a, b) = (&processes[0], &processes[1]);
    let (started, release) = (Arc::new(Notify::new()), Arc::new(Notify::new()));
    {
        let (started, release) = (started.clone(), release.clone());
        let (_, how) = a
            .fetch_served("home", 2_u64, FetchOptions::new(), move || async move {
                started.notify_one();
                release.notified().await;
                "v2 from a".to_string()
            })
            .await;
        assert_eq!(how, Served::Stale);
    }
    started.notified().await;
    let b_runs = Runs::default();
    let until = Instant::now() + Duration::from_millis(1050);
    while Instant::now() < until {
        let (_, how) = b
            .fetch_served("home", 2_u64, FetchOptions::new(), b_runs.make("v2 from b"))
            .await;
        assert_eq!(how, Served::Stale);
        b.wait_for_refreshes().await;
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(b_runs.get(), 0, "a second process refreshed too");
    release.notify_one();
    a.wait_for_refreshes().await;
    assert_eq!(
        b.fetch_served("home", 2_u64, FetchOptions::new(), b_runs.make("unused"))
            .await,
        ("v2 from a".into(), Served::Hit)
    );
    for cache in &processes {
        assert_eq!(cache.stats().store_errors, 0);
    }
}

/// The near caches' subscriptions on `node`.
fn subscribers(cluster: &RedisCluster, node: usize) -> u64 {
    let (_, count): (String, u64) = redis::cmd("PUBSUB")
        .arg("NUMSUB")
        .arg(format!("{PREFIX}swr:events"))
        .query(&mut cluster.node(node).admin())
        .unwrap();
    count
}

/// A primary killed mid-traffic: its replica takes over. Every fetch is answered
/// meanwhile (from the cluster, or generated in the caller while the slot has no
/// primary, counted in `store_errors`), and the cache is back on the cluster
/// without a restart. The primary killed is the node the near caches subscribe to
/// first: their subscription moves to another node, and coherence comes back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failover_is_survived_and_recovered_from_without_a_restart() {
    let mut cluster = RedisCluster::start_with_replicas(3, 1);
    let process = || {
        builder(&cluster)
            .command_timeout(Duration::from_millis(200))
            .fault_backoff(Duration::from_millis(100))
    };
    let cache = process().build();
    let near = process().near_cache(Duration::from_secs(600)).build();
    // A locator served by node 0, the first node given.
    let locator = (0..)
        .map(|i| format!("k{i}"))
        .find(|locator| cluster.node_serving(&cache_keys::entry(PREFIX, locator)) == 0)
        .unwrap();
    let locator = locator.as_str();
    let entry = cache_keys::entry(PREFIX, locator);
    let runs = Runs::default();
    assert_eq!(served(&cache, locator, 1, &runs).await.1, Served::Miss);
    assert_eq!(served(&cache, locator, 1, &runs).await.1, Served::Hit);
    assert_eq!(served(&near, locator, 1, &runs).await.1, Served::Hit);
    assert_eq!(
        subscribers(&cluster, 0),
        1,
        "the near cache listens on node 0"
    );
    let replica = cluster.replicas_of(0)[0];
    // The write reached the replica before the primary goes.
    let _: u64 = redis::cmd("WAIT")
        .arg(1)
        .arg(2000)
        .query(&mut cluster.node(0).admin())
        .unwrap();
    cluster.node_mut(0).kill();

    let deadline = Instant::now() + Duration::from_secs(30);
    let mut answered = 0_u64;
    loop {
        let (value, how) = served(&cache, locator, 1, &runs).await;
        assert_eq!(value, "generated", "every fetch answered");
        answered += 1;
        let promoted = cluster.node(replica).ping() && cluster.node_serving(&entry) == replica;
        if promoted && how == Served::Hit {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "not back on the cluster after the failover: {:?}",
            cache.stats()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let stats = cache.stats();
    assert!(stats.store_errors > 0, "the fault was counted: {stats:?}");
    assert!(answered > 1);

    // Recovered: hits and writes on the promoted replica, with no new faults.
    let errors = cache.stats().store_errors;
    assert_eq!(served(&cache, locator, 1, &runs).await.1, Served::Hit);
    assert_eq!(served(&cache, "other", 1, &runs).await.1, Served::Miss);
    assert_eq!(served(&cache, "other", 1, &runs).await.1, Served::Hit);
    let (_, how) = cache
        .fetch_served(locator, 2_u64, FetchOptions::new(), runs.make("v2"))
        .await;
    assert_eq!(how, Served::Stale);
    cache.wait_for_refreshes().await;
    assert_eq!(
        cache
            .fetch_served(locator, 2_u64, FetchOptions::new(), runs.make("unused"))
            .await,
        ("v2".into(), Served::Hit)
    );
    assert_eq!(cache.stats().store_errors, errors, "faults after recovery");

    // The near cache subscribed again on another node, and hears writes again.
    let deadline = Instant::now() + Duration::from_secs(10);
    while (1..cluster.nodes().len())
        .map(|node| subscribers(&cluster, node))
        .sum::<u64>()
        == 0
    {
        assert!(
            Instant::now() < deadline,
            "the near cache did not subscribe again"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let seen = |version: u64| {
        near.fetch_with(locator, 0_u64, FetchOptions::new(), move || async move {
            format!("absent at {version}")
        })
    };
    let deadline = Instant::now() + Duration::from_secs(5);
    while seen(2).await != "v2" {
        assert!(Instant::now() < deadline, "the near cache never saw v2");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    cache
        .fetch_with(
            locator,
            3_u64,
            FetchOptions::new().force_sync(true),
            runs.make("v3"),
        )
        .await;
    let deadline = Instant::now() + Duration::from_secs(1);
    while seen(3).await != "v3" {
        assert!(
            Instant::now() < deadline,
            "the near cache (ttl 10 min) did not hear of v3"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// What a hit over the cluster costs against a raw cluster `GET` of the same
/// payload through the `redis` crate's own cluster connection (printed with
/// `--nocapture`; numbers worth reading come from `--release`, and the benchmark
/// report has the row). A hit stays one round trip: one script on one slot.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn measure_a_cluster_hit_against_a_raw_cluster_get() {
    const HITS: usize = 3000;
    let cluster = RedisCluster::start(3);
    let cache = cache(&cluster);
    let value = "x".repeat(1024);
    let stored = value.clone();
    cache.fetch("k", 1_u64, move || async move { stored }).await;
    let mut raw = redis::cluster::ClusterClient::new(cluster.urls())
        .unwrap()
        .get_async_connection()
        .await
        .unwrap();
    let _: () = redis::cmd("SET")
        .arg("raw")
        .arg(&value)
        .query_async(&mut raw)
        .await
        .unwrap();
    let (mut ours, mut theirs) = (Vec::with_capacity(HITS), Vec::with_capacity(HITS));
    for _ in 0..HITS {
        let start = Instant::now();
        let hit: String = cache
            .fetch("k", 1_u64, || async { unreachable!("a hit") })
            .await;
        ours.push(start.elapsed());
        assert_eq!(hit.len(), 1024);
        let start = Instant::now();
        let got: Vec<u8> = redis::cmd("GET")
            .arg("raw")
            .query_async(&mut raw)
            .await
            .unwrap();
        theirs.push(start.elapsed());
        assert_eq!(got.len(), 1024);
    }
    ours.sort();
    theirs.sort();
    let (ours_p50, theirs_p50) = (ours[HITS / 2], theirs[HITS / 2]);
    println!(
        "1 KiB hit over the cluster p50 {ours_p50:?}; raw cluster GET p50 {theirs_p50:?}; ratio {:.2}x",
        ours_p50.as_secs_f64() / theirs_p50.as_secs_f64()
    );
    assert!(
        ours_p50 < theirs_p50 * 3,
        "a hit costs more than one round trip"
    );
    assert_eq!(cache.stats().store_errors, 0);
}
