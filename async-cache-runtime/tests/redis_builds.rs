//! Builds on the shared tier (contract §5 "Builds", crate docs; issue 11, item 5):
//! during a rolling deploy the older and the newer build serve at once without
//! fighting. Two `Cache` values over one server stand for the two builds' processes;
//! a build is its body fingerprint. Against a real `redis-server`.
#![cfg(feature = "redis")]

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};

use async_cache_runtime::{Cache, FetchOptions, Redis, Served};
use test_support::RedisServer;

const OLD: u64 = 0x0bad;
const NEW: u64 = 0x0001; // lower than OLD: the order is by first-seen time, not value

struct Build {
    cache: Cache<Redis>,
    fingerprint: u64,
    renders: Arc<AtomicUsize>,
}

impl Build {
    fn new(server: &RedisServer, fingerprint: u64) -> Self {
        Build {
            cache: Cache::builder()
                .redis(&server.url())
                .key_prefix("builds:")
                .build(),
            fingerprint,
            renders: Arc::default(),
        }
    }

    async fn fetch(&self, version: u64) -> (String, Served) {
        let renders = self.renders.clone();
        let made = format!("build {:x} at {version}", self.fingerprint);
        let (value, served) = self
            .cache
            .fetch_served(
                "home",
                version,
                FetchOptions::new().fingerprint(self.fingerprint),
                move || async move {
                    renders.fetch_add(1, SeqCst);
                    made
                },
            )
            .await;
        self.cache.wait_for_refreshes().await;
        (value, served)
    }

    fn renders(&self) -> usize {
        self.renders.load(SeqCst)
    }
}

/// Issue 11, item 5: at an equal version each build found the other's record stale
/// and re-rendered it on every read. Now the newer build (first seen later) replaces
/// the older build's record once per version, and the older build is served it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn builds_do_not_fight_during_a_rolling_deploy() {
    let server = RedisServer::start();
    let old = Build::new(&server, OLD);
    assert_eq!(old.fetch(1).await, ("build bad at 1".into(), Served::Miss));
    let new = Build::new(&server, NEW); // deployed later: first seen later

    // The older build's record is stale for the newer build at an equal version.
    assert_eq!(new.fetch(1).await, ("build bad at 1".into(), Served::Stale));
    assert_eq!(new.renders(), 1);
    for _ in 0..10 {
        // The newer build's record is current for the older build.
        assert_eq!(old.fetch(1).await, ("build 1 at 1".into(), Served::Hit));
        assert_eq!(new.fetch(1).await, ("build 1 at 1".into(), Served::Hit));
    }
    assert_eq!((old.renders(), new.renders()), (1, 1));

    // The next version: whichever build sees it first renders it, the newer build
    // re-renders the older build's record once, and then neither renders again.
    assert_eq!(old.fetch(2).await.1, Served::Stale);
    assert_eq!(old.renders(), 2);
    assert_eq!(new.fetch(2).await, ("build bad at 2".into(), Served::Stale));
    assert_eq!(new.renders(), 2);
    for _ in 0..10 {
        assert_eq!(old.fetch(2).await, ("build 1 at 2".into(), Served::Hit));
        assert_eq!(new.fetch(2).await, ("build 1 at 2".into(), Served::Hit));
    }
    assert_eq!((old.renders(), new.renders()), (2, 2));

    // At an older requested version any build's record is current (a lagging
    // replica); at a newer one, stale.
    assert_eq!(old.fetch(1).await, ("build 1 at 2".into(), Served::Hit));
    assert_eq!(old.fetch(3).await.1, Served::Stale);
    assert_eq!(
        old.cache.stats().store_errors + new.cache.stats().store_errors,
        0
    );
}

/// A fresh process of the older build (restarted mid-deploy, nothing looked up yet)
/// never replaces the newer build's record: the write looks both builds up first.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_older_build_does_not_replace_the_newer_builds_record() {
    let server = RedisServer::start();
    let old = Build::new(&server, OLD);
    old.fetch(1).await;
    let new = Build::new(&server, NEW);
    new.fetch(1).await;
    assert_eq!(new.fetch(1).await, ("build 1 at 1".into(), Served::Hit));

    let restarted = Build::new(&server, OLD);
    // Before it learns the order it may call the record stale, and render; its
    // result must not be stored.
    for _ in 0..5 {
        let (value, _) = restarted.fetch(1).await;
        assert_eq!(value, "build 1 at 1");
    }
    assert_eq!(new.fetch(1).await, ("build 1 at 1".into(), Served::Hit));
    assert!(restarted.renders() <= 1, "renders {}", restarted.renders());
}
