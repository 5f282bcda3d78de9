//! Fault injection: a generator that never completes, a builder runtime shut down
//! mid-refresh, and callers cancelled at every await point of a miss. (The Redis
//! tier's faults are in `redis_faults.rs`.)

mod common;

use std::future::{Future, pending, poll_fn};
use std::pin::Pin;
use std::task::Poll;
use std::time::Duration;

use async_cache_runtime::{Cache, FetchOptions, Served, Stats};
use common::{Counter, Gate, parse_provenance, provenance, quiet_planned_panics, within};
use futures_util::future::join_all;

/// Stale reads of `locator` at `version` until one is a hit: a refresh landing,
/// without sleeping a fixed time or waiting for every refresh.
async fn until_hit(cache: &Cache, locator: &str, version: u32) -> String {
    within("refresh to land", async {
        loop {
            let (value, served) = cache
                .fetch_served(locator, version, FetchOptions::new(), || async {
                    String::from("never: a refresh is in flight")
                })
                .await;
            if served == Served::Hit {
                return value;
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    })
    .await
}

/// A generator that opens `started` and then never completes.
fn hang(
    started: &Gate,
) -> impl FnOnce() -> Pin<Box<dyn Future<Output = String> + Send>> + Send + use<> {
    let started = started.clone();
    move || {
        Box::pin(async move {
            started.open();
            pending::<String>().await
        })
    }
}

/// Counts its drop: a future holding one counts itself dropped, run or not.
struct OnDrop(Counter);

impl Drop for OnDrop {
    fn drop(&mut self) {
        self.0.bump();
    }
}

fn value(v: &str) -> impl FnOnce() -> std::future::Ready<String> + Send + use<> {
    let v = v.to_string();
    move || std::future::ready(v)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hung_refresh_holds_only_its_own_claim() {
    let cache = Cache::builder().refresh_concurrency(2).build();
    cache.fetch("a", 1_u32, value("a1")).await;
    cache.fetch("b", 1_u32, value("b1")).await;
    let started = Gate::new();
    assert_eq!(cache.fetch("a", 2_u32, hang(&started)).await, "a1");
    within("hung refresh start", started.wait()).await;

    // Stale reads of the hung locator keep answering, and run nothing more. Each read
    // of a newer version than the one kept so far makes its generator's future (a
    // trailing refresh, contract §6.5, made at the read since the generator need not
    // be `'static`): the newest is kept for when the hung refresh ends, every older
    // one is dropped unrun, and none runs while the hung refresh holds a's claim.
    let (made, runs, dropped) = (Counter::new(), Counter::new(), Counter::new());
    for version in 2_u32..200 {
        let (made, runs, dropped) = (made.clone(), runs.clone(), dropped.clone());
        let (v, served) = within(
            "stale read",
            cache.fetch_served("a", version, FetchOptions::new(), move || {
                made.bump();
                let unrun = OnDrop(dropped);
                async move {
                    let _unrun = unrun;
                    runs.bump();
                    String::from("never")
                }
            }),
        )
        .await;
        assert_eq!((v.as_str(), served), ("a1", Served::Stale));
    }
    assert_eq!(runs.get(), 0, "the hung refresh still holds a's claim");
    assert_eq!(
        made.get(),
        197,
        "a future made for each newer version (3 to 199), none for the one refreshed"
    );
    assert_eq!(dropped.get(), 196, "all but the newest dropped unrun");
    // Reads of a version already kept make nothing.
    for _ in 0..10 {
        let made = made.clone();
        cache
            .fetch("a", 199_u32, move || {
                made.bump();
                std::future::ready(String::from("never"))
            })
            .await;
    }
    assert_eq!(made.get(), 197);

    // Another locator refreshes through the second place, and misses are unaffected.
    assert_eq!(cache.fetch("b", 2_u32, value("b2")).await, "b1");
    assert_eq!(until_hit(&cache, "b", 2).await, "b2");
    assert_eq!(cache.fetch("c", 1_u32, value("c1")).await, "c1");

    // A caller that must see a newer version than the hung refresh makes runs its own.
    let force = FetchOptions::new().force_sync(true);
    let (v, served) = within(
        "force_sync past the hung refresh",
        cache.fetch_served("a", 300_u32, force, value("a300")),
    )
    .await;
    assert_eq!((v.as_str(), served), ("a300", Served::Sync));
    assert_eq!(cache.fetch("a", 300_u32, value("never")).await, "a300");

    let stats = cache.stats();
    assert_eq!(
        (stats.refreshes_started, stats.refreshes_completed),
        (2, 1),
        "{stats:?}"
    );
    // The hung refresh is still running: waiting for refreshes does not resolve (it
    // cannot, so this timeout firing is not a timing assumption).
    let idle = tokio::time::timeout(Duration::from_millis(50), cache.wait_for_refreshes());
    assert!(
        idle.await.is_err(),
        "a refresh that never ends is still pending"
    );
}

/// With one running place, a hung refresh starves every other locator's refresh:
/// they queue, then are dropped and counted, and their stale reads still answer at
/// once. This documents the limit without `CacheBuilder::refresh_timeout` (off by
/// default); with it the hung refresh is abandoned and frees its place
/// (`refresh.rs::a_refresh_past_refresh_timeout_is_abandoned_and_frees_its_claim`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_one_place_a_hung_refresh_starves_refreshes_but_not_reads() {
    let cache = Cache::builder()
        .refresh_concurrency(1)
        .refresh_queue_capacity(1)
        .build();
    for locator in ["a", "b", "c"] {
        cache
            .fetch(locator, 1_u32, value(&format!("{locator}1")))
            .await;
    }
    let started = Gate::new();
    assert_eq!(cache.fetch("a", 2_u32, hang(&started)).await, "a1");
    within("hung refresh start", started.wait()).await;
    // b's refresh takes the one queue place; c's is dropped.
    let b = within("stale b", cache.fetch("b", 2_u32, value("b2"))).await;
    let c = within("stale c", cache.fetch("c", 2_u32, value("c2"))).await;
    assert_eq!((b.as_str(), c.as_str()), ("b1", "c1"));
    let stats = cache.stats();
    assert_eq!(
        (stats.refreshes_started, stats.refreshes_dropped),
        (1, 1),
        "{stats:?}"
    );
    // c retries on its next stale read, and is dropped again while the queue is full.
    within("stale c again", cache.fetch("c", 2_u32, value("c2"))).await;
    assert_eq!(cache.stats().refreshes_dropped, 2);
    // Reads in the caller are unaffected.
    let force = FetchOptions::new().force_sync(true);
    let (v, served) = within(
        "force_sync c",
        cache.fetch_served("c", 2_u32, force, value("c2")),
    )
    .await;
    assert_eq!((v.as_str(), served), ("c2", Served::Sync));
}

/// After `invalidate`, a caller that misses must not be handed the result of a
/// generation that began before the invalidation (contract §2.10 (crate docs): its
/// result "is not stored", so nor should it answer callers that came after). A
/// regression test: a later miss used to join the voided flight, and here would wait
/// on a generator that never completes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_miss_after_invalidate_does_not_join_the_voided_flight() {
    // A background refresh that hangs.
    let cache = Cache::new();
    cache.fetch("a", 1_u32, value("a1")).await;
    let started = Gate::new();
    cache.fetch("a", 2_u32, hang(&started)).await;
    within("hung refresh start", started.wait()).await;
    cache.invalidate("a").await;
    let after = tokio::time::timeout(
        Duration::from_secs(5),
        cache.fetch_served(
            "a",
            2_u32,
            FetchOptions::new(),
            value("a2 after invalidate"),
        ),
    )
    .await;
    assert_eq!(
        after.ok(),
        Some((String::from("a2 after invalidate"), Served::Miss)),
        "a miss after invalidate joined the voided refresh"
    );

    // A miss in a caller that hangs.
    let started = Gate::new();
    let leader = {
        let (cache, generate) = (cache.clone(), hang(&started));
        tokio::spawn(async move { cache.fetch("b", 1_u32, generate).await })
    };
    within("hung miss start", started.wait()).await;
    cache.invalidate("b").await;
    let after = tokio::time::timeout(
        Duration::from_secs(5),
        cache.fetch("b", 1_u32, value("b1 after invalidate")),
    )
    .await;
    leader.abort();
    assert_eq!(after.ok().as_deref(), Some("b1 after invalidate"));
}

// --- a builder runtime shut down -------------------------------------------------

fn runtimes() -> (tokio::runtime::Runtime, tokio::runtime::Runtime) {
    let worker = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("worker runtime");
    let caller = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("caller runtime");
    (worker, caller)
}

fn held(
    started: &Gate,
    release: &Gate,
    v: &'static str,
) -> impl FnOnce() -> Pin<Box<dyn Future<Output = String> + Send>> + Send + use<> {
    let (started, release) = (started.clone(), release.clone());
    move || {
        Box::pin(async move {
            started.open();
            release.wait().await;
            v.to_string()
        })
    }
}

/// Shuts the builder runtime down while a refresh runs on it and another waits in
/// its queue. Returns the cache and the caller runtime to go on with.
fn shut_down_mid_refresh() -> (Cache, tokio::runtime::Runtime) {
    let (worker, caller) = runtimes();
    let cache = Cache::builder()
        .runtime(worker.handle().clone())
        .refresh_concurrency(1)
        .build();
    let (started, release) = (Gate::new(), Gate::new());
    caller.block_on(async {
        cache.fetch("a", 1_u32, value("a1")).await;
        cache.fetch("b", 1_u32, value("b1")).await;
        assert_eq!(
            cache
                .fetch("a", 2_u32, held(&started, &release, "a2"))
                .await,
            "a1"
        );
        within("refresh start", started.wait()).await;
        // Queued behind a's.
        assert_eq!(
            cache
                .fetch("b", 2_u32, held(&Gate::new(), &release, "b2"))
                .await,
            "b1"
        );
    });
    // Dropping the runtime drops its tasks: the running refresh and the queued one.
    drop(worker);
    (cache, caller)
}

#[test]
fn a_runtime_shut_down_mid_refresh_leaves_no_worker_and_no_pending_refresh() {
    let (cache, caller) = shut_down_mid_refresh();
    caller.block_on(async {
        within("wait_for_refreshes", cache.wait_for_refreshes()).await;
        // No worker now: outdated entries are regenerated in the caller.
        let (v, served) = within(
            "fetch after shutdown",
            cache.fetch_served("a", 2_u32, FetchOptions::new(), value("a2 in caller")),
        )
        .await;
        assert_eq!((v.as_str(), served), ("a2 in caller", Served::Sync));
        let (v, served) = within(
            "fetch after shutdown",
            cache.fetch_served("b", 3_u32, FetchOptions::new(), value("b3 in caller")),
        )
        .await;
        assert_eq!((v.as_str(), served), ("b3 in caller", Served::Sync));
        // A miss, too, and a hit of what it stored.
        cache.fetch("c", 1_u32, value("c1")).await;
        let (_, served) = cache
            .fetch_served("c", 1_u32, FetchOptions::new(), value("never"))
            .await;
        assert_eq!(served, Served::Hit);
        within("wait_for_refreshes", cache.wait_for_refreshes()).await;
        let stats = cache.stats();
        // The queued refresh never ran: dropped. The running one began.
        assert_eq!(stats.refreshes_started, 1, "{stats:?}");
        assert_eq!(stats.refreshes_dropped, 1, "{stats:?}");
        assert_eq!(stats.refreshes_completed, 0, "{stats:?}");
        assert_eq!(stats.sync_refreshes, 2, "{stats:?}");
    });
}

/// A refresh that began and was then abandoned by its runtime's shutdown is counted
/// nowhere: `refreshes_started` never again equals `completed + failed`, so the
/// bookkeeping identity that holds on every idle cache breaks for good.
#[test]
fn a_refresh_abandoned_by_a_shutdown_is_counted() {
    let (cache, caller) = shut_down_mid_refresh();
    caller.block_on(async {
        within("wait_for_refreshes", cache.wait_for_refreshes()).await;
        let s = cache.stats();
        assert_eq!(
            s.refreshes_started,
            s.refreshes_completed + s.refreshes_failed + s.refreshes_elsewhere,
            "every refresh that started ends counted: {s:?}"
        );
    });
}

// --- callers cancelled at every await point of a miss ----------------------------

/// A generator that counts its run and yields `yields` times before answering.
fn yielding(
    runs: &Counter,
    yields: usize,
    label: &'static str,
) -> impl FnOnce() -> Pin<Box<dyn Future<Output = String> + Send>> + Send + use<> {
    let runs = runs.clone();
    move || {
        let n = runs.bump() as u64;
        Box::pin(async move {
            for _ in 0..yields {
                tokio::task::yield_now().await;
            }
            provenance(label, 1, n)
        })
    }
}

/// Polls `future` once with the task's own waker.
async fn poll_once<F: Future + Unpin>(future: &mut F) -> Poll<F::Output> {
    poll_fn(|cx| Poll::Ready(Pin::new(&mut *future).poll(cx))).await
}

/// Drops a leader's miss after 0, 1, 2, ... polls (every await point of the store
/// read, its generator and the write), with callers of the same locator waiting on
/// it: each time the waiters complete, one of them at most generates again, and the
/// next caller completes.
#[tokio::test(flavor = "current_thread")]
async fn a_leader_cancelled_at_every_await_point_of_a_miss() {
    quiet_planned_panics();
    const YIELDS: usize = 4;
    for polls in 0..YIELDS + 3 {
        let cache = Cache::new();
        let (leader_runs, waiter_runs) = (Counter::new(), Counter::new());
        let mut leader =
            Box::pin(cache.fetch("k", 1_u32, yielding(&leader_runs, YIELDS, "leader")));
        let mut waiters = Vec::new();
        let mut finished = None;
        for poll in 0..polls {
            if let Poll::Ready(v) = poll_once(&mut leader).await {
                finished = Some(v);
                break;
            }
            if poll == 0 {
                waiters = (0..3)
                    .map(|_| {
                        let (cache, g) = (cache.clone(), yielding(&waiter_runs, 1, "waiter"));
                        tokio::spawn(async move { cache.fetch("k", 1_u32, g).await })
                    })
                    .collect();
            }
            tokio::task::yield_now().await;
        }
        drop(leader);
        let waited = within("waiters", join_all(waiters)).await;
        let after = within(
            "next caller",
            cache.fetch_served(
                "k",
                1_u32,
                FetchOptions::new(),
                yielding(&waiter_runs, 0, "after"),
            ),
        )
        .await;
        let context = format!("cancelled after {polls} polls, finished: {finished:?}");
        assert!(leader_runs.get() <= 1, "{context}");
        for value in waited
            .into_iter()
            .map(Result::unwrap)
            .chain([after.0.clone()])
        {
            let (label, version, _) = parse_provenance(&value).expect("a generated value");
            assert!(
                ["leader", "waiter", "after"].contains(&label),
                "{context}: {value}"
            );
            assert_eq!(version, 1, "{context}");
        }
        match (&finished, polls) {
            // Never polled: nothing ran, nothing waited; the next caller generates.
            (None, 0) => {
                assert_eq!((leader_runs.get(), after.1), (0, Served::Miss), "{context}");
                assert_eq!(waiter_runs.get(), 1, "{context}");
            }
            // The leader answered: the waiters and the next caller got its value.
            (Some(v), _) => {
                assert!(v.starts_with("leader@"), "{context}");
                assert_eq!(waiter_runs.get(), 0, "{context}");
                assert_eq!(after, (v.clone(), Served::Hit), "{context}");
            }
            // Cancelled mid-generation: one waiter took over, once, and stored it.
            (None, _) => {
                assert_eq!(waiter_runs.get(), 1, "{context}");
                assert_eq!(after.1, Served::Hit, "{context}");
            }
        }
        let s: Stats = cache.stats();
        let completed = 3 * u64::from(polls > 0) + 1 + u64::from(finished.is_some());
        assert_eq!(s.hits + s.misses, completed, "{context}: {s:?}");
    }
}

/// Drops a waiting caller after each number of polls: the leader and the other
/// waiters are unaffected, and nothing is generated twice.
#[tokio::test(flavor = "current_thread")]
async fn a_waiter_cancelled_at_every_await_point() {
    for polls in 0..6 {
        let cache = Cache::new();
        let (leader_runs, other_runs) = (Counter::new(), Counter::new());
        let leader = {
            let (cache, g) = (cache.clone(), yielding(&leader_runs, 6, "leader"));
            tokio::spawn(async move { cache.fetch("k", 1_u32, g).await })
        };
        // Let the leader claim the generation.
        tokio::task::yield_now().await;
        let mut waiter = Box::pin(cache.fetch("k", 1_u32, yielding(&other_runs, 0, "waiter")));
        for _ in 0..polls {
            if poll_once(&mut waiter).await.is_ready() {
                break;
            }
            tokio::task::yield_now().await;
        }
        drop(waiter);
        let v = within("leader", leader).await.unwrap();
        assert!(v.starts_with("leader@"), "{v}");
        let after = cache
            .fetch("k", 1_u32, yielding(&other_runs, 0, "after"))
            .await;
        assert_eq!(after, v);
        assert_eq!(
            (leader_runs.get(), other_runs.get()),
            (1, 0),
            "polls: {polls}"
        );
    }
}

/// A force_sync caller cancelled while it regenerates leaves the stale entry in place
/// and the next force_sync caller regenerates.
#[tokio::test(flavor = "current_thread")]
async fn a_sync_regeneration_cancelled_at_every_await_point() {
    for polls in 0..6 {
        let cache = Cache::new();
        cache.fetch("k", 1_u32, value("k1")).await;
        let runs = Counter::new();
        let force = FetchOptions::new().force_sync(true);
        let mut caller =
            Box::pin(cache.fetch_with("k", 2_u32, force.clone(), yielding(&runs, 3, "first")));
        let mut finished = false;
        for _ in 0..polls {
            if poll_once(&mut caller).await.is_ready() {
                finished = true;
                break;
            }
        }
        drop(caller);
        let (v, served) = within(
            "next caller",
            cache.fetch_served("k", 2_u32, force, yielding(&runs, 0, "second")),
        )
        .await;
        if finished {
            assert_eq!(served, Served::Hit);
            assert!(v.starts_with("first@"));
            assert_eq!(runs.get(), 1);
        } else {
            assert_eq!(served, Served::Sync, "polls: {polls}");
            assert!(v.starts_with("second@"));
            assert_eq!(runs.get(), 1 + usize::from(polls > 0));
        }
    }
}
