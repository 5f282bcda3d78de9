//! Two OS processes share one Redis: many concurrent callers in each see one locator
//! stale, and exactly one refresh runs in total. The count is kept outside both
//! processes, by a Redis `INCR` in the generator.
//!
//! The second process is this very test binary, run again with `--exact` on this
//! test and an environment variable that makes it play the child.
#![cfg(feature = "redis")]

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use async_cache_runtime::{Cache, FetchOptions, Redis, Served};
use test_support::RedisServer;
use test_support::process::die_with_parent;

const CHILD_PORT: &str = "ASYNC_CACHE_TEST_CHILD_REDIS_PORT";
const TEST_NAME: &str = "one_refresh_across_two_processes";
const PREFIX: &str = "procs:";
const CALLERS: usize = 64;

fn cache(url: &str) -> Cache<Redis> {
    Cache::builder()
        .redis(url)
        .key_prefix(PREFIX)
        .near_cache(Duration::from_secs(5))
        .command_timeout(Duration::from_secs(2))
        .build()
}

/// The generator of version 2: slow, and counted in Redis.
async fn refresh(url: String) -> String {
    let client = redis::Client::open(url).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let _: u64 = redis::cmd("INCR")
        .arg("test:refreshes")
        .query_async(&mut conn)
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    format!("v2 by process {}", std::process::id())
}

/// What each process does: wait for the start signal, then `CALLERS` concurrent
/// fetches of version 2 over the stored version 1; all served at once and stale.
async fn stale_storm(url: &str, who: &str) -> Cache<Redis> {
    let cache = cache(url);
    let client = redis::Client::open(url).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let _: u64 = redis::cmd("INCR")
        .arg("test:ready")
        .query_async(&mut conn)
        .await
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while !redis::cmd("EXISTS")
        .arg("test:go")
        .query_async::<bool>(&mut conn)
        .await
        .unwrap()
    {
        assert!(Instant::now() < deadline, "{who}: no start signal");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let results = futures_util::future::join_all((0..CALLERS).map(|_| {
        let cache = cache.clone();
        let url = url.to_string();
        tokio::spawn(async move {
            cache
                .fetch_served("things/1", 2_u64, FetchOptions::new(), move || refresh(url))
                .await
        })
    }))
    .await;
    for result in results {
        let (value, served) = result.unwrap();
        assert_eq!((value.as_str(), served), ("v1", Served::Stale), "{who}");
    }
    cache.wait_for_refreshes().await;
    let stats = cache.stats();
    assert_eq!(stats.store_errors, 0, "{who}");
    // A process whose refresh found the other's lock counts it in
    // `refreshes_elsewhere`; the generator ran once in all (counted in Redis).
    assert_eq!(stats.refreshes_failed, 0, "{who}");
    cache
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_refresh_across_two_processes() {
    if let Ok(port) = std::env::var(CHILD_PORT) {
        let server = RedisServer::attach(port.parse().unwrap());
        stale_storm(&server.url(), "child").await;
        return;
    }
    let server = RedisServer::start();
    let url = server.url();
    cache(&url)
        .fetch("things/1", 1_u64, || async { "v1".to_string() })
        .await;

    let mut command = Command::new(std::env::current_exe().unwrap());
    command
        .args(["--exact", TEST_NAME, "--nocapture", "--test-threads=1"])
        .env(CHILD_PORT, server.port().to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    die_with_parent(&mut command);
    let child = command
        .spawn()
        .expect("the test binary runs again as the child");
    let child = tokio::task::spawn_blocking(move || child.wait_with_output());

    // Both ready: go.
    let mut admin = server.admin();
    let deadline = Instant::now() + Duration::from_secs(60);
    let parent = tokio::spawn({
        let url = url.clone();
        async move { stale_storm(&url, "parent").await }
    });
    loop {
        let ready: Option<u64> = redis::cmd("GET")
            .arg("test:ready")
            .query(&mut admin)
            .unwrap();
        if ready == Some(2) {
            break;
        }
        assert!(Instant::now() < deadline, "the child did not start");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let _: () = redis::cmd("SET")
        .arg("test:go")
        .arg(1)
        .query(&mut admin)
        .unwrap();

    let parent = parent.await.unwrap();
    let output = child.await.unwrap().unwrap();
    assert!(
        output.status.success(),
        "the child failed ({}):\n{}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );

    let refreshes: u64 = redis::cmd("GET")
        .arg("test:refreshes")
        .query(&mut admin)
        .unwrap();
    assert_eq!(refreshes, 1, "exactly one refresh across both processes");
    let (value, served): (String, Served) = cache(&url)
        .fetch_served("things/1", 2_u64, FetchOptions::new(), || async {
            unreachable!("version 2 is stored")
        })
        .await;
    assert!(value.starts_with("v2 by process"), "{value}");
    assert_eq!(served, Served::Hit);
    // The parent's near cache may still hold version 1 for its TTL: not asserted.
    drop(parent);
}
