//! Contract §2.1 and §2.11 (crate docs): concurrent misses run one generation; a
//! cancelled or panicking leader hands over; callers never wait on an older version.

mod common;

use std::sync::Arc;

use async_cache_runtime::{Cache, FetchOptions, Served};
use common::{Arrivals, Counter, Gate, parked, within};
use futures_util::future::join_all;
use tokio::task::JoinHandle;

const CALLERS: usize = 500;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_misses_run_the_generator_once() {
    let cache = Cache::new();
    let runs = Counter::new();
    let gate = Gate::new();
    let arrivals = Arrivals::new();
    let tasks: Vec<_> = (0..CALLERS)
        .map(|_| {
            let (cache, runs, gate) = (cache.clone(), runs.clone(), gate.clone());
            let arrivals = arrivals.clone();
            tokio::spawn(async move {
                let fetch = cache.fetch("herd", 1, move || async move {
                    runs.bump();
                    gate.wait().await;
                    "value".to_string()
                });
                parked(fetch, &arrivals).await
            })
        })
        .collect();
    // Every caller waits: the one generating on the gate, the others on it.
    within("callers parked", arrivals.wait_for(CALLERS)).await;
    gate.open();
    let values = within("herd", join_all(tasks)).await;
    assert!(values.into_iter().all(|v| v.unwrap() == "value"));
    assert_eq!(runs.get(), 1);
    let stats = cache.stats();
    assert_eq!(
        (stats.misses, stats.hits),
        (CALLERS as u64, 0),
        "every caller was a miss served by the one generation: {stats:?}"
    );
}

/// Starts a leader whose generator signals `started` and then never finishes.
fn hanging_leader(cache: &Cache, started: &Gate) -> tokio::task::JoinHandle<u32> {
    let (cache, started) = (cache.clone(), started.clone());
    tokio::spawn(async move {
        cache
            .fetch("k", 1, move || async move {
                started.open();
                std::future::pending::<u32>().await
            })
            .await
    })
}

/// Spawns `n` callers of `k` whose own generator (run only if they take over) counts
/// in `runs`; returns once all of them wait on the generation already running.
async fn waiters(cache: &Cache, runs: &Counter, n: usize) -> Vec<tokio::task::JoinHandle<u32>> {
    let arrivals = Arrivals::new();
    let waiting = (0..n)
        .map(|_| {
            let (cache, runs, arrivals) = (cache.clone(), runs.clone(), arrivals.clone());
            tokio::spawn(async move {
                let fetch = cache.fetch("k", 1, move || async move {
                    runs.bump();
                    7
                });
                parked(fetch, &arrivals).await
            })
        })
        .collect();
    within("waiters parked", arrivals.wait_for(n)).await;
    waiting
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_cancelled_leader_hands_over_to_one_waiter() {
    let cache = Cache::new();
    let started = Gate::new();
    let leader = hanging_leader(&cache, &started);
    within("leader start", started.wait()).await;
    let runs = Counter::new();
    let waiting = waiters(&cache, &runs, 100).await;
    leader.abort();
    let values = within("waiters", join_all(waiting)).await;
    assert!(values.into_iter().all(|v| v.unwrap() == 7));
    assert_eq!(
        runs.get(),
        1,
        "the waiters take over among themselves, once"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_panicking_leader_hands_over_and_the_panic_resumes_in_it() {
    let cache = Cache::new();
    let started = Gate::new();
    let release = Gate::new();
    // Typed: a generator that only panics would otherwise make a value of another
    // type, which the `u32` waiters would not join.
    let leader: JoinHandle<u32> = {
        let (cache, started, release) = (cache.clone(), started.clone(), release.clone());
        tokio::spawn(async move {
            cache
                .fetch("k", 1, move || async move {
                    started.open();
                    release.wait().await;
                    panic!("generator exploded");
                })
                .await
        })
    };
    within("leader start", started.wait()).await;
    let runs = Counter::new();
    let waiting = waiters(&cache, &runs, 100).await;
    release.open();
    let leader = within("leader", leader).await;
    let panic = leader.expect_err("the leader's panic resumes in the leader");
    assert!(panic.is_panic());
    let values = within("waiters", join_all(waiting)).await;
    assert!(values.into_iter().all(|v| v.unwrap() == 7));
    // Contract §2.11: after a failure each waiter runs its own rather than queueing
    // behind another that could fail too; those that find a value stored meanwhile
    // take it. (A cancelled leader, above, is handed over to exactly one.)
    assert!((1..=100).contains(&runs.get()), "{} runs", runs.get());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_failed_leader_returns_its_error_and_each_waiter_generates_at_most_once() {
    let cache = Cache::new();
    let started = Gate::new();
    let release = Gate::new();
    let leader = {
        let (cache, started, release) = (cache.clone(), started.clone(), release.clone());
        tokio::spawn(async move {
            cache
                .try_fetch("k", 1, move || async move {
                    started.open();
                    release.wait().await;
                    Err::<u32, _>("database down")
                })
                .await
        })
    };
    within("leader start", started.wait()).await;
    let runs = Counter::new();
    let arrivals = Arrivals::new();
    let waiting: Vec<_> = (0..100)
        .map(|_| {
            let (cache, runs, arrivals) = (cache.clone(), runs.clone(), arrivals.clone());
            tokio::spawn(async move {
                let fetch = cache.try_fetch("k", 1, move || async move {
                    runs.bump();
                    Ok::<u32, &str>(7)
                });
                parked(fetch, &arrivals).await
            })
        })
        .collect();
    within("waiters parked", arrivals.wait_for(100)).await;
    release.open();
    assert_eq!(
        within("leader", leader).await.unwrap(),
        Err("database down")
    );
    for value in within("waiters", join_all(waiting)).await {
        assert_eq!(value.unwrap(), Ok(7));
    }
    // Contract §2.11: each waiter runs its own after the failure it waited on (none
    // queues behind a second one); those that find a value stored take it.
    assert!((1..=100).contains(&runs.get()), "{} runs", runs.get());
}

/// Spawns a caller of `k` at `version` whose generator signals that it started, waits
/// for the returned gate, then makes `value`; returns once the generator started.
async fn held_caller<T>(cache: &Cache, version: i32, value: T) -> (JoinHandle<T>, Gate)
where
    T: Clone + Send + Sync + 'static,
{
    let (started, release) = (Gate::new(), Gate::new());
    let caller = {
        let (cache, started, release) = (cache.clone(), started.clone(), release.clone());
        tokio::spawn(async move {
            cache
                .fetch("k", version, move || async move {
                    started.open();
                    release.wait().await;
                    value
                })
                .await
        })
    };
    within("held caller start", started.wait()).await;
    (caller, release)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_newer_caller_never_waits_on_an_older_generation() {
    let cache = Cache::new();
    let (old, release) = held_caller(&cache, 1, "generated for 1").await;
    // The version-1 generation is stuck; a version-2 caller runs its own.
    let (newer, served) = within(
        "newer caller",
        cache.fetch_served("k", 2, FetchOptions::new(), || async { "generated for 2" }),
    )
    .await;
    assert_eq!((newer, served), ("generated for 2", Served::Miss));
    release.open();
    assert_eq!(within("old", old).await.unwrap(), "generated for 1");
    // The older result did not replace the newer one.
    let stored = cache.fetch("k", 1, || async { "never" }).await;
    assert_eq!(stored, "generated for 2");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_older_caller_joins_a_newer_generation() {
    let cache = Cache::new();
    let (newer, release) = held_caller(&cache, 2, "generated for 2").await;
    let runs = Counter::new();
    let arrivals = Arrivals::new();
    let older = {
        let (cache, runs, arrivals) = (cache.clone(), runs.clone(), arrivals.clone());
        tokio::spawn(async move {
            let fetch = cache.fetch("k", 1, move || async move {
                runs.bump();
                "generated for 1"
            });
            parked(fetch, &arrivals).await
        })
    };
    within("older caller parked", arrivals.wait_for(1)).await;
    release.open();
    assert_eq!(within("newer", newer).await.unwrap(), "generated for 2");
    assert_eq!(within("older", older).await.unwrap(), "generated for 2");
    assert_eq!(runs.get(), 0);
    let stats = cache.stats();
    assert_eq!(
        (stats.misses, stats.hits),
        (2, 0),
        "both were served by the one generation: {stats:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn callers_of_other_types_do_not_join_each_other() {
    let cache = Cache::new();
    let (text, release) = held_caller(&cache, 1, String::from("text")).await;
    let number = within("number", cache.fetch("k", 1, || async { 42_u8 })).await;
    assert_eq!(number, 42);
    release.open();
    assert_eq!(within("text", text).await.unwrap(), "text");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn generators_may_fetch_from_the_same_cache_recursively() {
    let cache = Arc::new(Cache::new());
    fn depth(cache: Arc<Cache>, n: u32) -> futures_util::future::BoxFuture<'static, u32> {
        Box::pin(async move {
            if n == 0 {
                return 0;
            }
            let inner = cache.clone();
            cache
                .fetch(format!("depth/{n}"), 1, move || depth(inner, n - 1))
                .await
                + 1
        })
    }
    assert_eq!(within("recursion", depth(cache.clone(), 20)).await, 20);
    assert_eq!(cache.stats().misses, 20);
    assert_eq!(within("again", depth(cache.clone(), 20)).await, 20);
    assert_eq!(
        cache.stats().hits,
        1,
        "the outermost hit answers without recursing"
    );
}
