//! Defects found in review that only a store with round trips shows, over a real
//! `redis-server`: each test failed on the code before its fix.
#![cfg(feature = "redis")]

mod common;

use std::sync::Arc;
use std::time::Duration;

use async_cache_runtime::{Cache, FetchOptions, Redis, Served};
use common::{Counter, Gate, within};
use test_support::redis_server::RedisServer;

/// Long enough that nothing here times out by accident while the server is frozen
/// on purpose; short enough that a test that does wait it out stays quick.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(5);

fn cache(server: &RedisServer, prefix: &str) -> Cache<Redis> {
    Cache::builder()
        .redis(&server.url())
        .key_prefix(prefix)
        .command_timeout(COMMAND_TIMEOUT)
        .fault_backoff(Duration::ZERO)
        .build()
}

/// Contract §2.1: a leader cancelled during its store write (a client that went
/// away) used to take its made value with it: its waiters generated again. Now they
/// get the value, and it is stored.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_value_made_before_its_leader_is_cancelled_reaches_its_waiters() {
    let server = Arc::new(RedisServer::start());
    let cache = cache(&server, "cancelled:");
    let runs = Counter::new();
    let (in_generator, release, cancel) = (Gate::new(), Gate::new(), Gate::new());

    let leader = {
        let (cache, runs, server) = (cache.clone(), runs.clone(), server.clone());
        let (in_generator, release, cancel) =
            (in_generator.clone(), release.clone(), cancel.clone());
        let cancelled = cancel.clone();
        tokio::spawn(async move {
            let fetch = cache.fetch("k", 1_u64, move || async move {
                runs.bump();
                in_generator.open();
                release.wait().await;
                // The write that follows waits on a frozen server: the leader is
                // cancelled in the middle of it.
                server.stall();
                cancel.open();
                "made".to_string()
            });
            tokio::select! {
                value = fetch => Some(value),
                () = cancelled.wait() => None,
            }
        })
    };
    within("the leader's generator", in_generator.wait()).await;
    let mut admin = server.admin();
    let before = commands_served(&mut admin);
    let waiter = {
        let (cache, runs) = (cache.clone(), runs.clone());
        tokio::spawn(async move {
            cache
                .fetch("k", 1_u64, move || async move {
                    runs.bump();
                    "made again".to_string()
                })
                .await
        })
    };
    // The waiter's read must reach the server before the leader freezes it: its lookup
    // of the absent entry is what moves the count.
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while commands_served(&mut admin) == before {
        assert!(
            std::time::Instant::now() < deadline,
            "the waiter never read"
        );
        tokio::task::yield_now().await;
    }
    // Between the server answering that read and the waiter joining the leader's
    // generation nothing is observable from outside: a margin far beyond what the
    // waiter needs to take its answer and join.
    tokio::time::sleep(Duration::from_millis(200)).await;
    release.open();
    assert_eq!(
        within("the leader", leader).await.unwrap(),
        None,
        "cancelled"
    );
    let got = within("the waiter", waiter).await.unwrap();
    server.resume();
    assert_eq!((got.as_str(), runs.get()), ("made", 1));

    // The write finishes in a task of its own: another process reads the value.
    let other = cache_of_another_process(&server);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let read = other
            .try_fetch_served("k", 1_u64, FetchOptions::new(), || async {
                Err::<String, _>("not stored yet")
            })
            .await;
        match read {
            Ok((value, Served::Hit)) => {
                assert_eq!(value, "made");
                break;
            }
            _ if tokio::time::Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            other => panic!("the made value was never stored: {other:?}"),
        }
    }
}

/// Lookups of absent keys the server has answered: the waiter's read of the missing
/// entry is the one such lookup while the test waits (the leader's own traffic, its
/// miss lock held meanwhile, touches keys that exist).
fn commands_served(admin: &mut redis::Connection) -> u64 {
    let info: String = redis::cmd("INFO").arg("stats").query(admin).unwrap();
    info.lines()
        .find_map(|line| line.strip_prefix("keyspace_misses:"))
        .and_then(|misses| misses.trim().parse().ok())
        .expect("INFO stats has keyspace_misses")
}

fn cache_of_another_process(server: &RedisServer) -> Cache<Redis> {
    cache(server, "cancelled:")
}

/// A refresh whose runtime shut down while it released its lock was counted both
/// completed and failed.
#[test]
fn a_refresh_is_counted_once_when_its_runtime_stops_during_the_unlock() {
    let server = Arc::new(RedisServer::start());
    let worker = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let caller = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let cache = Cache::builder()
        .runtime(worker.handle().clone())
        .redis(&server.url())
        .key_prefix("unlock:")
        .command_timeout(COMMAND_TIMEOUT)
        .fault_backoff(Duration::ZERO)
        .build();
    caller.block_on(async {
        cache.fetch("k", 1_u64, || async { "v1".to_string() }).await;
        let frozen = server.clone();
        let stale = cache
            .fetch("k", 2_u64, move || async move {
                // Its write and then its unlock wait on a frozen server.
                frozen.stall();
                "v2".to_string()
            })
            .await;
        assert_eq!(stale, "v1");
        let deadline = std::time::Instant::now() + 4 * COMMAND_TIMEOUT;
        while cache.stats().refreshes_completed == 0 {
            assert!(std::time::Instant::now() < deadline, "{:?}", cache.stats());
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    });
    // Now in its unlock, which waits on the frozen server: the runtime goes.
    worker.shutdown_timeout(Duration::from_secs(1));
    server.resume();
    let stats = cache.stats();
    assert_eq!(
        (
            stats.refreshes_started,
            stats.refreshes_completed,
            stats.refreshes_failed
        ),
        (1, 1, 0),
        "{stats:?}"
    );
}

/// Contract §7.1: a waiter took a miss lock that its holder had released just after
/// the waiter's last look at the entry (the holder writes, then releases), and
/// generated the value a second time, though it had landed. Many processes (here
/// `Cache` values) polling one lock make that window likely; now a caller that takes
/// the lock looks at the entry first.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_miss_lock_taken_just_after_its_holder_wrote_is_answered_by_the_record() {
    const PROCESSES: usize = 24;
    const HERDS: usize = 40;
    let server = RedisServer::start();
    let processes: Vec<Cache<Redis>> = (0..PROCESSES)
        .map(|_| {
            Cache::builder()
                .redis(&server.url())
                .key_prefix("relock:")
                .command_timeout(COMMAND_TIMEOUT)
                .miss_lock_timeout(Duration::from_secs(20))
                .build()
        })
        .collect();
    for herd in 0..HERDS {
        let locator = format!("herd/{herd}");
        let runs = Counter::new();
        let callers: Vec<_> = processes
            .iter()
            .map(|cache| {
                let (cache, runs, locator) = (cache.clone(), runs.clone(), locator.clone());
                tokio::spawn(async move {
                    cache
                        .fetch(&locator, 1_u64, move || async move {
                            runs.bump();
                            // Long enough for every process to find the lock held.
                            tokio::time::sleep(Duration::from_millis(60)).await;
                            "made".to_string()
                        })
                        .await
                })
            })
            .collect();
        for caller in callers {
            assert_eq!(within("a caller", caller).await.unwrap(), "made");
        }
        assert_eq!(runs.get(), 1, "herd {herd}: generated more than once");
    }
}
