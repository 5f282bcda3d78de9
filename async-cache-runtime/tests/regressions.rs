//! Defects found in review, one test each, named for what was broken: each failed on
//! the code before its fix. Time is tokio's paused clock wherever a duration matters,
//! so the bounds below are exact, not margins.

mod common;

use std::panic::AssertUnwindSafe;
use std::time::Duration;

use async_cache_runtime::{Cache, FetchOptions, Served};
use common::{Counter, quiet_planned_panics, within};
use futures_util::FutureExt;
use tokio::time::{Instant, sleep};

const RUN: Duration = Duration::from_millis(100);
const CALLERS: usize = 20;

/// What each of [`CALLERS`] concurrent callers of one locator got, and when.
async fn herd<F, Fut>(
    cache: &Cache,
    version: u64,
    options: FetchOptions,
    generate: F,
) -> Vec<(Result<u64, String>, Duration)>
where
    F: Fn() -> Fut + Clone + Send + 'static,
    Fut: std::future::Future<Output = Result<u64, String>> + Send + 'static,
{
    let start = Instant::now();
    let tasks: Vec<_> = (0..CALLERS)
        .map(|_| {
            let cache = cache.clone();
            let options = options.clone();
            let generate = generate.clone();
            tokio::spawn(async move {
                let result =
                    AssertUnwindSafe(cache.try_fetch_with("herd", version, options, generate))
                        .catch_unwind()
                        .await
                        .unwrap_or_else(|_| Err("panicked".to_string()));
                (result, start.elapsed())
            })
        })
        .collect();
    let mut answers = Vec::new();
    for task in tasks {
        answers.push(within("a herd caller", task).await.unwrap());
    }
    answers
}

fn failing(
    runs: &Counter,
    panics: bool,
) -> impl Fn() -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<u64, String>> + Send>>
+ Clone
+ Send
+ 'static {
    let runs = runs.clone();
    move || {
        let run = runs.bump();
        Box::pin(async move {
            sleep(RUN).await;
            if panics {
                panic!("planned panic #{run}");
            }
            Err(format!("down #{run}"))
        })
    }
}

/// Contract §2.11: with every generation failing after `RUN`, the last of 20 callers
/// used to be answered after about 20 runs, one failure after another; now each
/// waiter runs its own after the one failure it joined.
#[tokio::test(start_paused = true)]
async fn waiters_do_not_queue_behind_failed_generations() {
    quiet_planned_panics();
    for panics in [false, true] {
        let cache = Cache::new();
        let runs = Counter::new();
        let answers = herd(&cache, 1, FetchOptions::new(), failing(&runs, panics)).await;
        assert!(
            answers.iter().all(|(result, _)| result.is_err()),
            "{answers:?}"
        );
        let slowest = answers.iter().map(|(_, at)| *at).max().unwrap();
        assert!(
            slowest <= 2 * RUN + Duration::from_millis(5),
            "panics={panics}: the last caller was answered after {slowest:?}"
        );
        assert_eq!(runs.get(), CALLERS, "the leader's run, then one each");
    }
}

/// The same for callers that regenerate an outdated entry in the caller.
#[tokio::test(start_paused = true)]
async fn force_sync_callers_do_not_queue_behind_failed_generations() {
    let cache = Cache::new();
    cache.fetch("herd", 1_u64, || async { 1_u64 }).await;
    let runs = Counter::new();
    let answers = herd(
        &cache,
        2,
        FetchOptions::new().force_sync(true),
        failing(&runs, false),
    )
    .await;
    let slowest = answers.iter().map(|(_, at)| *at).max().unwrap();
    assert!(slowest <= 2 * RUN + Duration::from_millis(5), "{slowest:?}");
    assert_eq!(runs.get(), CALLERS);
}

/// A stale read whose `generate` closure (not its future) panics: the panic reaches
/// that caller, and the builder's runtime was taken for dead, so that every later
/// stale read regenerated in its caller.
#[test]
fn a_panicking_generate_closure_leaves_the_worker_alive() {
    quiet_planned_panics();
    let worker = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_time()
        .build()
        .unwrap();
    let caller = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    let cache = Cache::builder().runtime(worker.handle().clone()).build();
    caller.block_on(async {
        cache.fetch("k", 1_u64, || async { "v1" }).await;
        let panicked = AssertUnwindSafe(cache.fetch("k", 2_u64, || -> std::future::Ready<&str> {
            panic!("planned panic in the closure")
        }))
        .catch_unwind()
        .await;
        assert!(panicked.is_err(), "the panic resumes in the caller");
        let (value, served) = cache
            .fetch_served("k", 3_u64, FetchOptions::new(), || async { "v3" })
            .await;
        assert_eq!((value, served), ("v1", Served::Stale), "still a worker");
        within("the refresh", cache.wait_for_refreshes()).await;
        let (value, served) = cache
            .fetch_served("k", 3_u64, FetchOptions::new(), || async { "not run" })
            .await;
        assert_eq!((value, served), ("v3", Served::Hit));
    });
    assert_eq!(cache.stats().refreshes_dropped, 0);
}

/// Contract §2.12: a generator that fetches its own locator at a version its own
/// generation covers used to join itself and hang.
#[tokio::test]
async fn a_generation_that_fetches_itself_panics_naming_the_locator() {
    let cache = Cache::new();
    let inner = cache.clone();
    let task = tokio::spawn(async move {
        cache
            .fetch("loops/1", 1_u64, move || async move {
                inner.fetch("loops/1", 1_u64, || async { 0_u64 }).await + 1
            })
            .await
    });
    let panic = within("the self-fetching generation", task)
        .await
        .expect_err("a panic, not a value")
        .into_panic();
    let message = panic.downcast_ref::<String>().cloned().unwrap_or_default();
    assert!(message.contains("loops/1"), "{message}");
}

/// The same inside a background refresh, through a `force_sync` fetch that would join
/// the refresh itself: counted failed, never hung.
#[tokio::test]
async fn a_refresh_that_fetches_itself_fails_instead_of_hanging() {
    let cache = Cache::new();
    cache.fetch("loops/2", 1_u64, || async { 1_u64 }).await;
    let inner = cache.clone();
    let stale = cache
        .fetch("loops/2", 2_u64, move || async move {
            let options = FetchOptions::new().force_sync(true);
            inner
                .fetch_with("loops/2", 2_u64, options, || async { 0_u64 })
                .await
        })
        .await;
    assert_eq!(stale, 1);
    within("the refresh", cache.wait_for_refreshes()).await;
    let stats = cache.stats();
    assert_eq!((stats.refreshes_started, stats.refreshes_failed), (1, 1));
}

/// Each cache built with `.runtime(handle)` left a task on that runtime that never
/// ended, after the cache was dropped.
#[test]
fn a_dropped_cache_leaves_no_task_on_its_runtime() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .build()
        .unwrap();
    let alive = || runtime.metrics().num_alive_tasks();
    let before = alive();
    let caches: Vec<Cache> = (0..10)
        .map(|_| Cache::builder().runtime(runtime.handle().clone()).build())
        .collect();
    drop(caches);
    // The sentinels end when next polled; give the worker thread a bounded while.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while alive() > before && std::time::Instant::now() < deadline {
        runtime.block_on(tokio::task::yield_now());
        std::thread::yield_now();
    }
    assert_eq!(alive(), before);
}

/// `invalidate_all` walked the whole map in the caller, blocking an executor thread
/// on a large cache; inside a runtime it now returns at once and the memory is given
/// back by a blocking-pool task. Outside a runtime it still sweeps inline, which is
/// the yardstick: a ratio, not a duration.
#[test]
fn invalidate_all_does_not_sweep_on_the_callers_thread() {
    const ENTRIES: u64 = 100_000;
    let fill = |cache: &Cache| {
        futures_executor::block_on(async {
            for i in 0..ENTRIES {
                cache
                    .fetch(i.to_string(), 1_u64, move || async move { i })
                    .await;
            }
        });
    };
    let inline = Cache::builder().max_capacity(ENTRIES * 2).build();
    fill(&inline);
    let start = std::time::Instant::now();
    inline.invalidate_all();
    let swept_inline = start.elapsed();

    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let cache = Cache::builder().max_capacity(ENTRIES * 2).build();
    fill(&cache);
    let in_runtime = runtime.block_on(async {
        let start = std::time::Instant::now();
        cache.invalidate_all();
        start.elapsed()
    });
    assert!(
        in_runtime * 10 < swept_inline,
        "in a runtime {in_runtime:?}, inline {swept_inline:?}"
    );
    // And the entries are gone for readers at once, wherever the sweep runs.
    let runs = Counter::new();
    let counted = runs.clone();
    futures_executor::block_on(cache.fetch("0", 1_u64, move || async move {
        counted.bump();
        0
    }));
    assert_eq!(runs.get(), 1);
}
