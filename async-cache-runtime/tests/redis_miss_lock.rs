//! One generation per cold locator across processes (contract §7.1, crate docs):
//! separate `Cache<Redis>` values over one server and prefix behave as separate
//! processes. A generator that takes a while (real time: others must arrive while it
//! runs) is the point here, so the margins are generous. Against a real
//! `redis-server`.
#![cfg(feature = "redis")]

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::time::{Duration, Instant};

use async_cache_runtime::{Cache, FetchOptions, Redis, Served};
use test_support::RedisServer;
use tokio::sync::Notify;

fn process(server: &RedisServer, miss_lock_timeout: Duration) -> Cache<Redis> {
    Cache::builder()
        .redis(&server.url())
        .key_prefix("miss:")
        .miss_lock_timeout(miss_lock_timeout)
        .build()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cold_herd_over_three_processes_runs_the_generator_once() {
    const CALLERS: usize = 100;
    let server = RedisServer::start();
    let processes: Vec<_> = (0..3)
        .map(|_| process(&server, Duration::from_secs(10)))
        .collect();
    let runs = Arc::new(AtomicUsize::new(0));
    let mut callers = Vec::new();
    for cache in &processes {
        for _ in 0..CALLERS {
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
    for cache in &processes {
        assert_eq!(cache.stats().misses, CALLERS as u64);
        assert_eq!(cache.stats().store_errors, 0);
    }
}

/// A's generation of version 1, held inside its generator until `release`.
fn held(
    cache: &Cache<Redis>,
    version: u64,
    started: &Arc<Notify>,
    release: &Arc<Notify>,
    outcome: Result<&'static str, &'static str>,
) -> tokio::task::JoinHandle<Result<String, String>> {
    let (cache, started, release) = (cache.clone(), started.clone(), release.clone());
    tokio::spawn(async move {
        cache
            .try_fetch("home", version, move || async move {
                started.notify_one();
                release.notified().await;
                outcome.map(str::to_string).map_err(str::to_string)
            })
            .await
    })
}

async fn timed_fetch(
    cache: &Cache<Redis>,
    version: u64,
    runs: &Arc<AtomicUsize>,
) -> (String, Duration) {
    let runs = runs.clone();
    let start = Instant::now();
    let value = cache
        .fetch("home", version, move || async move {
            runs.fetch_add(1, SeqCst);
            format!("b at {version}")
        })
        .await;
    (value, start.elapsed())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_holder_hands_over_at_once() {
    let server = RedisServer::start();
    let (a, b) = (
        process(&server, Duration::from_secs(10)),
        process(&server, Duration::from_secs(10)),
    );
    let (started, release) = (Arc::new(Notify::new()), Arc::new(Notify::new()));
    let holder = held(&a, 1, &started, &release, Err("backend down"));
    started.notified().await;
    let runs = Arc::new(AtomicUsize::new(0));
    let waiter = {
        let (b, runs) = (b.clone(), runs.clone());
        tokio::spawn(async move { timed_fetch(&b, 1, &runs).await })
    };
    // B is waiting on A's lock (it polls; give it time to be there).
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(runs.load(SeqCst), 0, "b generated while a held the lock");
    let failed_at = Instant::now();
    release.notify_one();
    assert_eq!(holder.await.unwrap(), Err("backend down".to_string()));
    let (value, _) = waiter.await.unwrap();
    let handed_over = failed_at.elapsed();
    assert_eq!(value, "b at 1");
    assert_eq!(runs.load(SeqCst), 1);
    assert!(
        handed_over < Duration::from_secs(2),
        "b took over {handed_over:?} after a failed (its wait is 10 s)"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_newer_version_does_not_wait_and_no_one_waits_past_the_timeout() {
    let server = RedisServer::start();
    let a = process(&server, Duration::from_secs(30));
    let b = process(&server, Duration::from_millis(600));
    let (started, release) = (Arc::new(Notify::new()), Arc::new(Notify::new()));
    let holder = held(&a, 1, &started, &release, Ok("a at 1"));
    started.notified().await;
    let runs = Arc::new(AtomicUsize::new(0));

    // A newer version than the one under way: generated at once.
    let (value, took) = timed_fetch(&b, 2, &runs).await;
    assert_eq!(value, "b at 2");
    assert!(took < Duration::from_millis(500), "waited {took:?}");

    // The same version, in a process whose wait is 600 ms: it waits that long, then
    // generates itself.
    b.invalidate("home").await;
    let (value, took) = timed_fetch(&b, 1, &runs).await;
    assert_eq!(value, "b at 1");
    assert!(
        took >= Duration::from_millis(500) && took < Duration::from_secs(3),
        "waited {took:?}"
    );
    assert_eq!(runs.load(SeqCst), 2);
    release.notify_one();
    assert_eq!(holder.await.unwrap(), Ok("a at 1".to_string()));
}
