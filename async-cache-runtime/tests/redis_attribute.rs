//! `#[async_cached]` over the shared tier: `cache = &SHARED` with a `Cache<Redis>`,
//! the body fingerprint stored with each record, and one function generic over the
//! store serving both tiers.
#![cfg(all(feature = "redis", feature = "macros"))]

mod support;

use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, LazyLock, OnceLock};

use async_cache_runtime::store::Store;
use async_cache_runtime::{Cache, Redis, async_cached};
use support::redis_server::RedisServer;

/// The URL of the server the test started (a static server would never be stopped).
static URL: OnceLock<String> = OnceLock::new();
static SHARED: LazyLock<Cache<Redis>> = LazyLock::new(|| {
    let url = URL.get().expect("the test starts the server first");
    Cache::builder().redis(url).key_prefix("attr:").build()
});
static RUNS: AtomicUsize = AtomicUsize::new(0);

#[async_cached(locator = format!("things/{id}"), version = updated_at, cache = &SHARED)]
async fn render_thing(id: u64, updated_at: u64) -> String {
    RUNS.fetch_add(1, SeqCst);
    format!("thing {id} at {updated_at}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn annotated_functions_reach_a_shared_cache() {
    let server = RedisServer::start();
    URL.set(server.url()).unwrap();
    assert_eq!(render_thing(1, 10).await, "thing 1 at 10");
    assert_eq!(render_thing(1, 10).await, "thing 1 at 10");
    assert_eq!(RUNS.load(SeqCst), 1);
    // The record carries the body's fingerprint (bytes 9..17, after the format tag and
    // the types hash).
    let bytes = test_support::cache_keys::read_entry(&mut server.admin(), "attr:", "things/1")
        .expect("the entry is stored");
    assert_eq!(bytes[0], 0xA2);
    assert_ne!(&bytes[9..17], &[0; 8], "a fingerprint is stored");
    // Another process sees the entry, written with the body's fingerprint: one that
    // asks with another fingerprint (another build) finds it stale.
    let other: Cache<Redis> = Cache::builder()
        .redis(&server.url())
        .key_prefix("attr:")
        .build();
    let runs = Arc::new(AtomicUsize::new(0));
    let counted = runs.clone();
    let (value, served) = other
        .fetch_served(
            "things/1",
            10_u64,
            async_cache_runtime::FetchOptions::new().fingerprint(12345),
            move || async move {
                counted.fetch_add(1, SeqCst);
                "another build".to_string()
            },
        )
        .await;
    assert_eq!(
        (value.as_str(), served),
        ("thing 1 at 10", async_cache_runtime::Served::Stale)
    );
    other.wait_for_refreshes().await;
    assert_eq!(runs.load(SeqCst), 1);
    assert_eq!(SHARED.stats().store_errors, 0);
}

static GENERIC_RUNS: AtomicUsize = AtomicUsize::new(0);

// One annotated function for any store.
#[async_cached(locator = format!("generic/{id}"), version = updated_at, cache = cache)]
async fn render_anywhere<S: Store<u64, String>>(
    cache: &Cache<S>,
    id: u64,
    updated_at: u64,
) -> String {
    GENERIC_RUNS.fetch_add(1, SeqCst);
    format!("generic {id} at {updated_at}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_function_serves_both_stores() {
    let server = RedisServer::start();
    let shared: Cache<Redis> = Cache::builder()
        .redis(&server.url())
        .key_prefix("generic:")
        .build();
    let memory = Cache::new();

    assert_eq!(render_anywhere(&memory, 1, 1).await, "generic 1 at 1");
    assert_eq!(render_anywhere(&memory, 1, 1).await, "generic 1 at 1");
    assert_eq!(GENERIC_RUNS.load(SeqCst), 1, "a memory hit");
    assert_eq!(render_anywhere(&shared, 1, 1).await, "generic 1 at 1");
    assert_eq!(render_anywhere(&shared, 1, 1).await, "generic 1 at 1");
    assert_eq!(
        GENERIC_RUNS.load(SeqCst),
        2,
        "a shared hit; the stores are apart"
    );
    // Whatever the key layout under the prefix, the entry is in Redis.
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg("generic:*")
        .query(&mut server.admin())
        .unwrap();
    assert!(
        keys.iter().any(|key| key.ends_with("generic/1")),
        "written to Redis: {keys:?}"
    );
    assert_eq!((memory.stats().misses, shared.stats().misses), (1, 1));
    assert_eq!(shared.stats().store_errors, 0);
}
