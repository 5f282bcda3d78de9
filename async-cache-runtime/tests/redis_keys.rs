//! The shared tier's keys (contract §5 "Keys", crate docs): everything the cache
//! writes lies under `{prefix}swr:`, the `invalidate_all` sweep deletes nothing else,
//! and a generation key that someone deleted or garbled brings no old entry back and
//! fails no access (issue 11, items 3 and 9). Against a real `redis-server`.
#![cfg(feature = "redis")]

use std::time::{Duration, Instant};

use async_cache_runtime::{Cache, FetchOptions, Redis, Served};
use test_support::RedisServer;

fn cache(server: &RedisServer, prefix: &str) -> Cache<Redis> {
    Cache::builder()
        .redis(&server.url())
        .key_prefix(prefix)
        .build()
}

fn keys(admin: &mut redis::Connection, pattern: &str) -> Vec<String> {
    let mut keys: Vec<String> = redis::cmd("KEYS").arg(pattern).query(admin).unwrap();
    keys.sort();
    keys
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

/// Waits until none of `gone` exists any more (the sweep reached them).
async fn until_swept(admin: &mut redis::Connection, gone: &[String]) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let left: usize = gone
            .iter()
            .map(|key| redis::cmd("EXISTS").arg(key).query::<usize>(admin).unwrap())
            .sum();
        if left == 0 {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "the sweep did not remove {gone:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Issue 11, item 3: the sweep scanned `{prefix}[0-9]*` and deleted the application's
/// `myapp:1:cart` (prefix `myapp:`) or any key starting with a digit (empty prefix).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalidate_all_sweeps_only_the_caches_own_keys() {
    let server = RedisServer::start();
    let mut admin = server.admin();
    let theirs = [
        "myapp:0:cart",
        "myapp:1:cart",
        "myapp:12:x",
        "0:y",
        "1:x",
        "2",
    ];
    for key in theirs {
        let _: () = redis::cmd("SET")
            .arg(key)
            .arg("theirs")
            .query(&mut admin)
            .unwrap();
    }

    for prefix in ["myapp:", ""] {
        let cache = cache(&server, prefix);
        for round in 0..2 {
            let locator = format!("swept-{round}-of-{prefix}");
            assert_eq!(fetch(&cache, &locator, "v").await.1, Served::Miss);
            assert_eq!(fetch(&cache, &locator, "unused").await.1, Served::Hit);
            let written = keys(&mut admin, &format!("*{locator}"));
            assert!(!written.is_empty(), "the entry is in Redis");
            cache.invalidate_all();
            // Another locator: this one's entry, written again, would be under the
            // same key.
            let next = format!("{locator}-next");
            assert_eq!(fetch(&cache, &next, "after").await.1, Served::Miss);
            until_swept(&mut admin, &written).await;
        }
        assert_eq!(cache.stats().store_errors, 0);
        for key in theirs {
            let value: Option<String> = redis::cmd("GET").arg(key).query(&mut admin).unwrap();
            assert_eq!(value.as_deref(), Some("theirs"), "{key} was deleted");
        }

        // Every key the cache wrote is under the prefix and the marker.
        let all = keys(&mut admin, "*");
        let ours: Vec<&String> = all
            .iter()
            .filter(|key| !theirs.contains(&key.as_str()))
            .collect();
        assert!(!ours.is_empty());
        for key in &ours {
            assert!(
                key.starts_with(&format!("{prefix}swr:"))
                    || (prefix.is_empty() && key.starts_with("myapp:swr:")),
                "{key:?} is outside {prefix:?} + swr:"
            );
        }
    }
}

/// Issue 11, item 9: a generation key that is deleted brought the entries of
/// generation 0 back; one that holds garbage failed every access after an
/// `invalidate_all` (its `INCR` fails, and accesses wait for it first).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deleted_or_garbled_generation_key_resurrects_nothing_and_fails_nothing() {
    let server = RedisServer::start();
    let mut admin = server.admin();
    let a = cache(&server, "gen:");
    assert_eq!(fetch(&a, "k", "old").await, ("old".into(), Served::Miss));
    let old_keys = keys(&mut admin, "gen:swr:*:e:k");
    assert_eq!(old_keys.len(), 1, "{old_keys:?}");
    let old_entry: Vec<Vec<u8>> = redis::cmd("HGETALL")
        .arg(&old_keys[0])
        .query(&mut admin)
        .unwrap();

    // A leftover of an older generation (a sweep that has not got there yet) ...
    a.invalidate_all();
    assert_eq!(fetch(&a, "k", "new").await, ("new".into(), Served::Miss));
    let _: () = redis::cmd("DEL")
        .arg(&old_keys[0])
        .query(&mut admin)
        .unwrap();
    let _: () = redis::cmd("HSET")
        .arg(&old_keys[0])
        .arg(&old_entry)
        .query(&mut admin)
        .unwrap();
    // ... and the generation key of its bucket deleted.
    let generation_key = test_support::cache_keys::generation("gen:", "k");
    let _: () = redis::cmd("DEL")
        .arg(&generation_key)
        .query(&mut admin)
        .unwrap();
    let b = cache(&server, "gen:");
    for cache in [&a, &b] {
        let (value, _) = fetch(cache, "k", "after delete").await;
        assert_ne!(value, "old", "an entry of an older generation came back");
    }
    assert_eq!(fetch(&b, "k", "unused").await.1, Served::Hit);

    // Garbage in the generation key, then an invalidate_all: accesses go on.
    let _: () = redis::cmd("SET")
        .arg(&generation_key)
        .arg("garbage")
        .query(&mut admin)
        .unwrap();
    let errors = a.stats().store_errors;
    a.invalidate_all();
    let (value, served) = fetch(&a, "k", "after garbage").await;
    assert_ne!(value, "old");
    assert_eq!(served, Served::Miss);
    assert_eq!(
        fetch(&a, "k", "unused").await,
        ("after garbage".into(), Served::Hit)
    );
    assert_eq!(
        fetch(&b, "k", "unused").await,
        ("after garbage".into(), Served::Hit)
    );
    assert_eq!(a.stats().store_errors, errors, "accesses failed");
    assert_eq!(b.stats().store_errors, 0);
}
