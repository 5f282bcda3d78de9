//! Contract §6 (crate docs), time and failure, on the shared tier, against a real
//! `redis-server`: ages on Redis's clock, the same for every process; fallbacks kept
//! in Redis for `expires_in + fail_safe` and no longer; the writer's expiry; `expire`
//! marks where `invalidate` removes; `put` under the no-downgrade rule; soft timeouts
//! and the fail-safe throttle. Redis's clock does not pause, so where an age is the
//! point these tests wait real time, with margins several times the work in
//! between, and look at what Redis stores (`PTTL`) where they can.
#![cfg(feature = "redis")]

mod common;

use std::time::Duration;

use async_cache_runtime::{Cache, FetchOptions, Redis, Served};
use common::{Counter, Gate};
use test_support::{RedisServer, cache_keys};

const PREFIX: &str = "time:";
const MS: Duration = Duration::from_millis(1);
/// An age that every test's own work between two reads stays well below.
const AGE: Duration = Duration::from_millis(400);
/// What a test waits for an entry to reach `AGE`: past it by a margin.
const PAST_AGE: Duration = Duration::from_millis(700);

fn cache(server: &RedisServer) -> Cache<Redis> {
    Cache::builder()
        .redis(&server.url())
        .key_prefix(PREFIX)
        .build()
}

/// A generator that counts its runs and answers `value`.
fn make(
    runs: &Counter,
    value: &'static str,
) -> impl FnOnce() -> std::future::Ready<Result<String, String>> + Send + 'static {
    let runs = runs.clone();
    move || {
        runs.bump();
        std::future::ready(Ok(value.to_owned()))
    }
}

/// A generator that counts its runs and fails.
fn failing(runs: &Counter) -> impl FnOnce() -> std::future::Ready<Result<String, String>> + Send {
    let runs = runs.clone();
    move || {
        runs.bump();
        std::future::ready(Err("backend down".to_owned()))
    }
}

async fn fetch(
    cache: &Cache<Redis>,
    version: u64,
    options: FetchOptions,
    runs: &Counter,
    value: &'static str,
) -> (String, Served) {
    cache
        .try_fetch_served("k", version, options, make(runs, value))
        .await
        .expect("the generator succeeds")
}

async fn fetch_failing(
    cache: &Cache<Redis>,
    version: u64,
    options: FetchOptions,
    runs: &Counter,
) -> Result<(String, Served), String> {
    cache
        .try_fetch_served("k", version, options, failing(runs))
        .await
}

/// The entry's remaining time to live in Redis, in ms: -2 when it is gone, -1
/// without expiry.
fn pttl(server: &RedisServer) -> i64 {
    let key = cache_keys::entry(PREFIX, "k");
    redis::cmd("PTTL")
        .arg(key)
        .query(&mut server.admin())
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_entry_refreshes_once_its_age_reaches_refresh_after() {
    let server = RedisServer::start();
    let cache = cache(&server);
    let runs = Counter::new();
    let aged = FetchOptions::new().refresh_after(AGE);
    assert_eq!(
        fetch(&cache, 1, aged.clone(), &runs, "first").await,
        ("first".into(), Served::Miss)
    );
    assert_eq!(
        fetch(&cache, 1, aged.clone(), &runs, "not run").await,
        ("first".into(), Served::Hit),
        "well below its age"
    );
    tokio::time::sleep(PAST_AGE).await;
    assert_eq!(
        fetch(&cache, 1, aged.clone(), &runs, "second").await,
        ("first".into(), Served::Stale),
        "at a current version, stale by age"
    );
    cache.wait_for_refreshes().await;
    // The refresh's same-version value replaced the entry it found stale.
    assert_eq!(
        fetch(&cache, 1, aged.clone(), &runs, "not run").await,
        ("second".into(), Served::Hit)
    );
    // A caller of an older version is served it as a hit whatever its age.
    tokio::time::sleep(PAST_AGE).await;
    assert_eq!(
        fetch(&cache, 0, aged, &runs, "not run").await,
        ("second".into(), Served::Hit)
    );
    assert_eq!(runs.get(), 2);
    let stats = cache.stats();
    assert_eq!((stats.misses, stats.stale_hits, stats.hits), (1, 1, 3));
    assert_eq!(stats.store_errors, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_entry_written_by_one_process_is_as_old_in_another() {
    let server = RedisServer::start();
    let (a, b) = (cache(&server), cache(&server));
    let runs = Counter::new();
    fetch(&a, 1, FetchOptions::new(), &runs, "from a").await;
    tokio::time::sleep(PAST_AGE).await;
    assert_eq!(
        fetch(
            &a,
            1,
            FetchOptions::new().refresh_after(AGE * 20),
            &runs,
            "not run"
        )
        .await,
        ("from a".into(), Served::Hit),
        "below a longer refresh_after: the reader judges"
    );
    // B has never seen the entry: had its age started at B's read, it would be
    // fresh here. It is as old as in A.
    let aged = FetchOptions::new().refresh_after(AGE);
    assert_eq!(
        fetch(&b, 1, aged.clone(), &runs, "from b").await,
        ("from a".into(), Served::Stale)
    );
    b.wait_for_refreshes().await;
    assert_eq!(runs.get(), 2);
    // B's refresh landed: young again, in both processes.
    assert_eq!(
        fetch(&a, 1, aged.clone(), &runs, "not run").await,
        ("from b".into(), Served::Hit)
    );
    assert_eq!(
        fetch(&b, 1, aged, &runs, "not run").await,
        ("from b".into(), Served::Hit)
    );
    assert_eq!(runs.get(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fallback_is_kept_for_fail_safe_past_expiry_and_no_longer() {
    let server = RedisServer::start();
    let (ttl, max) = (AGE, Duration::from_millis(1500));
    let writer: Cache<Redis> = Cache::builder()
        .redis(&server.url())
        .key_prefix(PREFIX)
        .expires_in(ttl)
        .fail_safe(max)
        .build();
    let runs = Counter::new();
    fetch(&writer, 1, FetchOptions::new(), &runs, "v1").await;
    let kept = pttl(&server);
    let whole = i64::try_from((ttl + max).as_millis()).unwrap();
    assert!(
        kept <= whole && kept > whole - 200,
        "kept in Redis for expires_in + fail_safe: PTTL {kept} of {whole}"
    );

    tokio::time::sleep(PAST_AGE).await;
    // Expired: another process whose calls set no fail-safe finds nothing.
    let reader = cache(&server);
    assert_eq!(
        fetch_failing(&reader, 1, FetchOptions::new(), &runs).await,
        Err("backend down".into())
    );
    // One that sets it is answered with the fallback, and the throttle then answers
    // without running a generator.
    let safe = FetchOptions::new().fail_safe(max);
    assert_eq!(
        fetch_failing(&reader, 1, safe.clone(), &runs).await,
        Ok(("v1".into(), Served::FailSafe))
    );
    assert_eq!(
        fetch_failing(&reader, 1, safe.clone(), &runs).await,
        Ok(("v1".into(), Served::FailSafe)),
        "throttled"
    );
    assert_eq!(
        runs.get(),
        3,
        "the first fetch, the failure without fail-safe, one more"
    );
    let stats = reader.stats();
    assert_eq!((stats.fail_safe_hits, stats.misses), (2, 1));

    // Past expires_in + fail_safe the key is gone, and so is the fallback.
    let gone_at = ttl + max + Duration::from_millis(300);
    tokio::time::sleep(gone_at - PAST_AGE).await;
    assert_eq!(pttl(&server), -2);
    let late = cache(&server);
    assert_eq!(
        fetch_failing(&late, 1, safe, &runs).await,
        Err("backend down".into())
    );
    assert_eq!(runs.get(), 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expiry_is_the_writers() {
    let server = RedisServer::start();
    let writer = cache(&server);
    let reader: Cache<Redis> = Cache::builder()
        .redis(&server.url())
        .key_prefix(PREFIX)
        .expires_in(Duration::from_secs(3600))
        .build();
    let runs = Counter::new();
    fetch(
        &writer,
        1,
        FetchOptions::new().expires_in(AGE),
        &runs,
        "short",
    )
    .await;
    let kept = pttl(&server);
    assert!(
        kept > 0 && kept <= 400,
        "the writer's expires_in: PTTL {kept}"
    );
    assert_eq!(
        fetch(&reader, 1, FetchOptions::new(), &runs, "not run").await,
        ("short".into(), Served::Hit)
    );
    tokio::time::sleep(PAST_AGE).await;
    assert_eq!(
        fetch(&reader, 1, FetchOptions::new(), &runs, "long").await,
        ("long".into(), Served::Miss),
        "expired by the writer's expires_in, not kept by the reader's"
    );
    let kept = pttl(&server);
    assert!(kept > 3_500_000, "now the reader's: PTTL {kept}");
    assert_eq!(runs.get(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expire_keeps_a_fallback_where_invalidate_does_not() {
    let server = RedisServer::start();
    let (a, b) = (cache(&server), cache(&server));
    let runs = Counter::new();
    let long = Duration::from_secs(60);
    let write = FetchOptions::new().expires_in(long).fail_safe(long);
    fetch(&a, 5, write, &runs, "v5").await;
    let before = pttl(&server);
    a.expire("k").await;
    let after = pttl(&server);
    assert!(
        after > 0 && after <= before && before - after < 1000,
        "marked in place, its time to live kept: {before} then {after}"
    );

    // Outdated for every version, in every process: a fallback for a failure...
    let safe = FetchOptions::new().fail_safe(long).force_sync(true);
    assert_eq!(
        fetch_failing(&b, 4, safe, &runs).await,
        Ok(("v5".into(), Served::FailSafe))
    );
    // ...and stale for a reader of an older version, whose refresh cannot store.
    assert_eq!(
        fetch(&b, 4, FetchOptions::new(), &runs, "v4").await,
        ("v5".into(), Served::Stale)
    );
    b.wait_for_refreshes().await;
    assert_eq!(
        fetch(&a, 5, FetchOptions::new(), &runs, "v5, remade").await,
        ("v5".into(), Served::Stale),
        "the older version's refresh was discarded: the mark stays"
    );
    a.wait_for_refreshes().await;
    assert_eq!(
        fetch(&b, 5, FetchOptions::new(), &runs, "not run").await,
        ("v5, remade".into(), Served::Hit),
        "refreshed at its version: the mark is cleared"
    );
    assert_eq!(runs.get(), 4);

    // `invalidate` removes: no fallback.
    a.invalidate("k").await;
    assert_eq!(pttl(&server), -2);
    let safe = FetchOptions::new().fail_safe(long).force_sync(true);
    assert_eq!(
        fetch_failing(&b, 5, safe, &runs).await,
        Err("backend down".into())
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expire_of_a_missing_locator_does_nothing() {
    let server = RedisServer::start();
    let cache = cache(&server);
    cache.expire("k").await;
    assert_eq!(pttl(&server), -2, "nothing written");
    let runs = Counter::new();
    assert_eq!(
        fetch(&cache, 1, FetchOptions::new(), &runs, "v1").await,
        ("v1".into(), Served::Miss)
    );
    assert_eq!(
        fetch(&cache, 1, FetchOptions::new(), &runs, "not run").await,
        ("v1".into(), Served::Hit),
        "no mark waited for it"
    );
    assert_eq!((runs.get(), cache.stats().store_errors), (1, 0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn put_never_downgrades_across_processes_and_clears_a_mark() {
    let server = RedisServer::start();
    let (a, b) = (cache(&server), cache(&server));
    assert!(a.put("k", 2_u64, "two".to_string()).await);
    assert!(
        b.put("k", 2_u64, "two, remade".to_string()).await,
        "a newer make of the same version, from another process"
    );
    assert!(!b.put("k", 1_u64, "one".to_string()).await);
    assert!(!a.put("k", 1_u64, "one".to_string()).await);
    a.expire("k").await;
    let long = Duration::from_secs(60);
    let options = FetchOptions::new().expires_in(long).fail_safe(long);
    assert!(b.put_with("k", 3_u64, options, "three".to_string()).await);
    let kept = pttl(&server);
    assert!(
        kept > 119_000 && kept <= 120_000,
        "the put's own expires_in + fail_safe: PTTL {kept}"
    );
    let runs = Counter::new();
    assert_eq!(
        fetch(&a, 3, FetchOptions::new(), &runs, "not run").await,
        ("three".into(), Served::Hit),
        "the put cleared the mark"
    );
    assert_eq!(runs.get(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_generation_of_an_older_version_running_under_a_put_is_discarded() {
    let server = RedisServer::start();
    let (a, b) = (cache(&server), cache(&server));
    let (held, entered) = (Gate::new(), Gate::new());
    let miss = {
        let (a, held, entered) = (a.clone(), held.clone(), entered.clone());
        tokio::spawn(async move {
            a.fetch("k", 1_u64, move || async move {
                entered.open();
                held.wait().await;
                "one, late".to_string()
            })
            .await
        })
    };
    entered.wait().await;
    assert!(b.put("k", 2_u64, "two".to_string()).await);
    held.open();
    assert_eq!(miss.await.unwrap(), "one, late", "its caller still gets it");
    let runs = Counter::new();
    for cache in [&a, &b] {
        assert_eq!(
            fetch(cache, 2, FetchOptions::new(), &runs, "not run").await,
            ("two".into(), Served::Hit)
        );
    }
    assert_eq!(runs.get(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_generation_is_answered_by_the_fallback_and_lands_later() {
    let server = RedisServer::start();
    let cache: Cache<Redis> = Cache::builder()
        .redis(&server.url())
        .key_prefix(PREFIX)
        .soft_timeout(50 * MS)
        .refresh_concurrency(0)
        .build();
    let runs = Counter::new();
    fetch(&cache, 1, FetchOptions::new(), &runs, "v1").await;
    let held = Gate::new();
    let slow = {
        let (runs, held) = (runs.clone(), held.clone());
        move || async move {
            runs.bump();
            held.wait().await;
            Ok::<_, String>("v2".to_string())
        }
    };
    let answer = cache
        .try_fetch_served("k", 2_u64, FetchOptions::new(), slow)
        .await;
    assert_eq!(answer, Ok(("v1".into(), Served::FailSafe)));
    // No second generation of that version starts meanwhile: this caller joins it.
    let joined = {
        let cache = cache.clone();
        let runs = runs.clone();
        tokio::spawn(async move {
            cache
                .try_fetch_served("k", 2_u64, FetchOptions::new(), make(&runs, "v2 again"))
                .await
        })
    };
    assert_eq!(
        joined.await.unwrap(),
        Ok(("v1".into(), Served::FailSafe)),
        "answered by its own soft timeout"
    );
    held.open();
    cache.wait_for_refreshes().await;
    assert_eq!(
        fetch(&cache, 2, FetchOptions::new(), &runs, "not run").await,
        ("v2".into(), Served::Hit),
        "the slow generation landed"
    );
    assert_eq!(runs.get(), 2);
    let stats = cache.stats();
    assert_eq!((stats.soft_timeouts, stats.fail_safe_hits), (2, 2));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_near_cache_keeps_ages_marks_and_refreshes() {
    let server = RedisServer::start();
    let near: Cache<Redis> = Cache::builder()
        .redis(&server.url())
        .key_prefix(PREFIX)
        .near_cache(Duration::from_secs(60))
        .build();
    let runs = Counter::new();
    let aged = FetchOptions::new().refresh_after(AGE);
    fetch(&near, 1, aged.clone(), &runs, "first").await;
    assert_eq!(
        fetch(&near, 1, aged.clone(), &runs, "not run").await,
        ("first".into(), Served::Hit)
    );
    tokio::time::sleep(PAST_AGE).await;
    assert_eq!(
        fetch(&near, 1, aged.clone(), &runs, "second").await,
        ("first".into(), Served::Stale),
        "the near copy ages as the entry does"
    );
    near.wait_for_refreshes().await;
    assert_eq!(
        fetch(&near, 1, aged.clone(), &runs, "not run").await,
        ("second".into(), Served::Hit),
        "the refresh replaced the near copy"
    );
    near.expire("k").await;
    assert_eq!(
        fetch(&near, 1, FetchOptions::new(), &runs, "third").await,
        ("second".into(), Served::Stale),
        "the near copy is marked"
    );
    near.wait_for_refreshes().await;
    assert_eq!(
        fetch(&near, 1, FetchOptions::new(), &runs, "not run").await,
        ("third".into(), Served::Hit)
    );
    assert_eq!(runs.get(), 3);
    assert_eq!(near.stats().store_errors, 0);
}

/// Contract §5 "Nothing acknowledged is lost": an `expire` made while Redis cannot
/// be told is kept, this process does not serve the entry as current meanwhile, and
/// the mark reaches Redis once it answers (the entry stays, as a fallback).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expire_made_during_a_fault_is_applied_once_redis_answers() {
    let server = RedisServer::start();
    let backoff = Duration::from_secs(2);
    let faulty = |near: bool| {
        let builder = Cache::builder()
            .redis(&server.url())
            .key_prefix(PREFIX)
            .command_timeout(150 * MS)
            .fault_backoff(backoff);
        if near {
            builder.near_cache(Duration::from_secs(60)).build()
        } else {
            builder.build()
        }
    };
    let (a, b): (Cache<Redis>, Cache<Redis>) = (faulty(true), faulty(false));
    let runs = Counter::new();
    let long = Duration::from_secs(60);
    let write = FetchOptions::new().expires_in(long).fail_safe(long);
    fetch(&a, 1, write, &runs, "old").await;
    assert_eq!(
        fetch(&a, 1, FetchOptions::new(), &runs, "not run").await,
        ("old".into(), Served::Hit)
    );

    server.stall();
    let errors = a.stats().store_errors;
    let _ = a.fetch("trip", 1_u64, || async { "x".to_string() }).await;
    server.resume();
    assert!(a.stats().store_errors > errors, "the fault was not seen");
    let tripped = std::time::Instant::now();
    a.expire("k").await;
    // Not served as current meanwhile: not from the near cache, not from Redis.
    let (value, served) = fetch(&a, 1, FetchOptions::new(), &runs, "during").await;
    assert_ne!((value.as_str(), served), ("old", Served::Hit));
    assert!(
        tripped.elapsed() < backoff,
        "the steps above ran past the back-off: the test proves nothing"
    );

    let deadline = std::time::Instant::now() + backoff + Duration::from_secs(10);
    loop {
        let (value, served) = fetch(&b, 1, FetchOptions::new(), &runs, "new").await;
        if served != Served::Hit {
            assert_eq!(
                (value.as_str(), served),
                ("old", Served::Stale),
                "marked, not removed"
            );
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the expire made during the fault never reached Redis"
        );
        tokio::time::sleep(50 * MS).await;
    }
}

/// Another process's near copy is marked by the backplane's `expire` event.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expire_reaches_another_processs_near_cache() {
    let server = RedisServer::start();
    let near = || -> Cache<Redis> {
        Cache::builder()
            .redis(&server.url())
            .key_prefix(PREFIX)
            .near_cache(Duration::from_secs(60))
            .build()
    };
    let (a, b) = (near(), near());
    let runs = Counter::new();
    fetch(&a, 1, FetchOptions::new(), &runs, "v1").await;
    assert_eq!(
        fetch(&b, 1, FetchOptions::new(), &runs, "not run").await,
        ("v1".into(), Served::Hit)
    );
    a.expire("k").await;
    // Without the event, b's copy would be a hit for the near cache's ttl.
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    loop {
        let (value, served) = fetch(&b, 1, FetchOptions::new(), &runs, "v1, remade").await;
        if served != Served::Hit {
            assert_eq!((value.as_str(), served), ("v1", Served::Stale));
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "b's near copy was never marked"
        );
        tokio::time::sleep(10 * MS).await;
    }
    b.wait_for_refreshes().await;
    assert_eq!(runs.get(), 2);
}

/// Contract §6.4 over Redis: after a failed refresh of an entry stale by age, stale
/// reads within the back-off serve it without scheduling another.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_refresh_backs_off_stale_reads() {
    let server = RedisServer::start();
    let cache: Cache<Redis> = Cache::builder()
        .redis(&server.url())
        .key_prefix(PREFIX)
        .refresh_after(AGE)
        .refresh_backoff(Duration::from_secs(60), Duration::from_secs(600))
        .build();
    let runs = Counter::new();
    fetch(&cache, 1, FetchOptions::new(), &runs, "v1").await;
    tokio::time::sleep(PAST_AGE).await;
    assert_eq!(
        fetch_failing(&cache, 1, FetchOptions::new(), &runs).await,
        Ok(("v1".into(), Served::Stale))
    );
    cache.wait_for_refreshes().await;
    for _ in 0..3 {
        assert_eq!(
            fetch(&cache, 1, FetchOptions::new(), &runs, "not run").await,
            ("v1".into(), Served::Stale)
        );
    }
    cache.wait_for_refreshes().await;
    assert_eq!(runs.get(), 2, "the first fetch and the one failed refresh");
    let stats = cache.stats();
    assert_eq!(
        (
            stats.refreshes_failed,
            stats.refreshes_backed_off,
            stats.stale_hits
        ),
        (1, 3, 4)
    );
}
