//! Contract §8 (crate docs), the metrics: with a real recorder (metrics-util's
//! debugging recorder) bound to the cache, a scripted sequence of fetches leaves each
//! series with exactly the expected value and labels, each counter equal to the
//! `Stats` field it mirrors, and the histograms holding the times the test produced
//! with paused time.

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use async_cache_runtime::{Cache, FetchOptions, Served};
use common::Gate;
use metrics_util::debugging::{DebugValue, DebuggingRecorder, Snapshotter};
use tokio::time::{advance, sleep};

/// A series: its name and its labels, sorted.
type Series = (String, Vec<(String, String)>);

/// What a series holds: a counter, a gauge, or a histogram's samples in
/// milliseconds, sorted (paused time makes them exact).
#[derive(Debug, PartialEq)]
enum Value {
    Counter(u64),
    Gauge(f64),
    Millis(Vec<u64>),
}

/// The debugging recorder's snapshots drain what they read (counters and gauges
/// swapped to zero, histograms cleared): a tally adds them up so that a test may look
/// midway and still check totals at the end.
struct Tally {
    snapshotter: Snapshotter,
    seen: BTreeMap<Series, Value>,
}

impl Tally {
    fn new(recorder: &DebuggingRecorder) -> Self {
        Tally {
            snapshotter: recorder.snapshotter(),
            seen: BTreeMap::new(),
        }
    }

    fn read(&mut self) -> &BTreeMap<Series, Value> {
        for (key, _, _, value) in self.snapshotter.snapshot().into_vec() {
            let key = key.key();
            let mut labels: Vec<_> = key
                .labels()
                .map(|l| (l.key().to_owned(), l.value().to_owned()))
                .collect();
            labels.sort();
            let slot = self.seen.entry((key.name().to_owned(), labels));
            match (value, slot) {
                (DebugValue::Counter(n), slot) => match slot.or_insert(Value::Counter(0)) {
                    Value::Counter(total) => *total += n,
                    other => panic!("a counter and a {other:?} share a series"),
                },
                (DebugValue::Gauge(g), slot) => match slot.or_insert(Value::Gauge(0.0)) {
                    Value::Gauge(total) => *total += g.into_inner(),
                    other => panic!("a gauge and a {other:?} share a series"),
                },
                (DebugValue::Histogram(samples), slot) => {
                    match slot.or_insert(Value::Millis(Vec::new())) {
                        Value::Millis(all) => {
                            all.extend(
                                samples
                                    .iter()
                                    .map(|s| (s.into_inner() * 1000.0).round() as u64),
                            );
                            all.sort();
                        }
                        other => panic!("a histogram and a {other:?} share a series"),
                    }
                }
            }
        }
        &self.seen
    }
}

fn series(name: &str, labels: &[(&str, &str)]) -> Series {
    let mut labels: Vec<_> = labels
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    labels.sort();
    (name.to_owned(), labels)
}

/// Every series a cache named `cache` registers, at the values given.
struct Expected<'a> {
    cache: &'a str,
    map: BTreeMap<Series, Value>,
}

impl<'a> Expected<'a> {
    fn new(cache: &'a str) -> Self {
        Expected {
            cache,
            map: BTreeMap::new(),
        }
    }
    fn set(mut self, name: &str, label: Option<(&str, &str)>, value: Value) -> Self {
        let mut labels = vec![("cache", self.cache)];
        labels.extend(label);
        self.map.insert(series(name, &labels), value);
        self
    }
}

fn built(recorder: &DebuggingRecorder, name: &str) -> Cache {
    metrics::with_local_recorder(recorder, || {
        Cache::builder()
            .name(name)
            .refresh_concurrency(1)
            .refresh_queue_capacity(0)
            .build()
    })
}

async fn value_after(ms: u64, value: &'static str) -> &'static str {
    sleep(Duration::from_millis(ms)).await;
    value
}

#[tokio::test(start_paused = true)]
async fn a_scripted_sequence_leaves_exactly_the_expected_series() {
    let recorder = DebuggingRecorder::new();
    let mut tally = Tally::new(&recorder);
    let cache = built(&recorder, "scripted");
    let fetch = |locator: &'static str, version: u64, ms: u64, value: &'static str| {
        let cache = cache.clone();
        async move {
            cache
                .fetch_served(locator, version, FetchOptions::new(), move || {
                    value_after(ms, value)
                })
                .await
                .1
        }
    };

    // Miss (a 250 ms generation), then a hit.
    assert_eq!(fetch("a", 1, 250, "a1").await, Served::Miss);
    assert_eq!(fetch("a", 1, 0, "unused").await, Served::Hit);

    // 10 s later, stale: the refresh runs 500 ms and lands 500 ms after that read.
    advance(Duration::from_secs(10)).await;
    assert_eq!(fetch("a", 2, 500, "a2").await, Served::Stale);
    cache.wait_for_refreshes().await;

    // 5 s after that write, a stale read whose refresh fails after 100 ms.
    advance(Duration::from_secs(5)).await;
    let (value, served) = cache
        .try_fetch_served("a", 3_u64, FetchOptions::new(), || async {
            sleep(Duration::from_millis(100)).await;
            Err::<&str, &str>("backend down")
        })
        .await
        .expect("a stale read never fails");
    assert_eq!((value, served), ("a2", Served::Stale));
    cache.wait_for_refreshes().await;

    // A second miss (50 ms), then a refresh of it that holds the one place.
    assert_eq!(fetch("b", 1, 50, "b1").await, Served::Miss);
    advance(Duration::from_secs(1)).await;
    let (started, release) = (Gate::new(), Gate::new());
    let held = {
        let (started, release) = (started.clone(), release.clone());
        move || async move {
            started.open();
            release.wait().await;
            "b2"
        }
    };
    let (_, served) = cache
        .fetch_served("b", 2_u64, FetchOptions::new(), held)
        .await;
    assert_eq!(served, Served::Stale);
    started.wait().await;
    let running = tally.read();
    assert_eq!(
        running[&series("async_cache_refreshes_running", &[("cache", "scripted")])],
        Value::Gauge(1.0)
    );
    assert_eq!(
        running[&series("async_cache_refreshes_queued", &[("cache", "scripted")])],
        Value::Gauge(0.0)
    );

    // With the place taken and no queue, a stale read of `a` drops its refresh; a
    // second stale read of `b` joins the running one. Both are stale answers.
    advance(Duration::from_secs(1)).await;
    assert_eq!(fetch("a", 4, 0, "unused").await, Served::Stale);
    assert_eq!(fetch("b", 2, 0, "unused").await, Served::Stale);
    advance(Duration::from_secs(1)).await;
    release.open();
    cache.wait_for_refreshes().await;

    // Regenerated in the caller (300 ms).
    let (_, served) = cache
        .fetch_served("a", 5_u64, FetchOptions::new().force_sync(true), || {
            value_after(300, "a5")
        })
        .await;
    assert_eq!(served, Served::Sync);

    // The database goes down: regenerating `a` in the caller fails after 40 ms and
    // the fallback answers (this call opts into fail-safe).
    let answer = cache
        .try_fetch_served(
            "a",
            6_u64,
            FetchOptions::new()
                .force_sync(true)
                .fail_safe(Duration::from_secs(60)),
            || async {
                sleep(Duration::from_millis(40)).await;
                Err::<&str, &str>("database down")
            },
        )
        .await;
    assert_eq!(answer, Ok(("a5", Served::FailSafe)));

    let stats = cache.stats();
    let counter = |n: u64| Value::Counter(n);
    let fetches = "async_cache_fetches_total";
    let refreshes = "async_cache_refreshes_total";
    let expected = Expected::new("scripted")
        .set(fetches, Some(("served", "hit")), counter(stats.hits))
        .set(
            fetches,
            Some(("served", "stale")),
            counter(stats.stale_hits),
        )
        .set(fetches, Some(("served", "miss")), counter(stats.misses))
        .set(
            fetches,
            Some(("served", "sync")),
            counter(stats.sync_refreshes),
        )
        .set(
            fetches,
            Some(("served", "fail_safe")),
            counter(stats.fail_safe_hits),
        )
        .set(
            refreshes,
            Some(("outcome", "started")),
            counter(stats.refreshes_started),
        )
        .set(
            refreshes,
            Some(("outcome", "completed")),
            counter(stats.refreshes_completed),
        )
        .set(
            refreshes,
            Some(("outcome", "failed")),
            counter(stats.refreshes_failed),
        )
        .set(
            refreshes,
            Some(("outcome", "dropped")),
            counter(stats.refreshes_dropped),
        )
        .set(
            refreshes,
            Some(("outcome", "backed_off")),
            counter(stats.refreshes_backed_off),
        )
        .set(
            refreshes,
            Some(("outcome", "elsewhere")),
            counter(stats.refreshes_elsewhere),
        )
        .set(
            "async_cache_store_errors_total",
            None,
            counter(stats.store_errors),
        )
        .set(
            "async_cache_generation_seconds",
            Some(("kind", "miss")),
            Value::Millis(vec![50, 250]),
        )
        .set(
            "async_cache_generation_seconds",
            Some(("kind", "sync")),
            // a5 (300 ms), and the failed regeneration (40 ms).
            Value::Millis(vec![40, 300]),
        )
        .set(
            "async_cache_generation_seconds",
            Some(("kind", "refresh")),
            // a2 (500 ms), the failed one (100 ms), and b2, held 2 s by the gate.
            Value::Millis(vec![100, 500, 2000]),
        )
        .set(
            "async_cache_stale_age_seconds",
            None,
            // a at 10 s and 5 s after its writes, b 1 s after its write, the dropped
            // read of a 7.15 s after a2 landed, and b again 2 s after its write.
            Value::Millis(vec![1000, 2000, 5000, 7150, 10_000]),
        )
        .set(
            "async_cache_refresh_lag_seconds",
            None,
            // a2: 500 ms after its stale read; b2: 2 s after the *first* stale read of
            // b, not the second.
            Value::Millis(vec![500, 2000]),
        )
        .set("async_cache_refreshes_running", None, Value::Gauge(0.0))
        .set("async_cache_refreshes_queued", None, Value::Gauge(0.0));
    assert_eq!(tally.read(), &expected.map);

    // And the Stats the counters mirror are the ones the script produced.
    assert_eq!(
        (
            stats.hits,
            stats.stale_hits,
            stats.misses,
            stats.sync_refreshes
        ),
        (1, 5, 2, 1)
    );
    assert_eq!(stats.fail_safe_hits, 1);
    assert_eq!(
        (
            stats.refreshes_started,
            stats.refreshes_completed,
            stats.refreshes_failed,
            stats.refreshes_dropped,
            stats.refreshes_elsewhere,
            stats.store_errors,
        ),
        (3, 2, 1, 1, 0, 0)
    );
}

#[tokio::test(start_paused = true)]
async fn caches_of_one_name_share_series_and_other_names_do_not() {
    let recorder = DebuggingRecorder::new();
    let mut tally = Tally::new(&recorder);
    let one = built(&recorder, "pages");
    let two = built(&recorder, "pages");
    let other = built(&recorder, "users");
    for cache in [&one, &two, &other] {
        cache.fetch("k", 1, || async { 1 }).await;
        cache.fetch("k", 1, || async { 1 }).await;
    }
    one.fetch("k", 1, || async { 1 }).await;
    let series_of = |cache: &str, served: &str| {
        series(
            "async_cache_fetches_total",
            &[("cache", cache), ("served", served)],
        )
    };
    let snapshot = tally.read();
    assert_eq!(snapshot[&series_of("pages", "hit")], Value::Counter(3));
    assert_eq!(snapshot[&series_of("pages", "miss")], Value::Counter(2));
    assert_eq!(snapshot[&series_of("users", "hit")], Value::Counter(1));
    assert_eq!(snapshot[&series_of("users", "miss")], Value::Counter(1));
}

#[tokio::test]
async fn the_default_name_is_default() {
    let recorder = DebuggingRecorder::new();
    let mut tally = Tally::new(&recorder);
    let cache = metrics::with_local_recorder(&recorder, Cache::new);
    cache.fetch("k", 1, || async { 1 }).await;
    let snapshot = tally.read();
    assert_eq!(
        snapshot[&series(
            "async_cache_fetches_total",
            &[("cache", "default"), ("served", "miss")]
        )],
        Value::Counter(1)
    );
}

#[tokio::test(start_paused = true)]
async fn a_backed_off_stale_read_moves_the_backed_off_series() {
    let recorder = DebuggingRecorder::new();
    let mut tally = Tally::new(&recorder);
    let cache = metrics::with_local_recorder(&recorder, || {
        Cache::builder()
            .name("backoff")
            .refresh_backoff(Duration::from_secs(10), Duration::from_secs(60))
            .build()
    });
    cache.fetch("k", 1_u64, || async { "v1" }).await;
    for _ in 0..3 {
        let answer = cache
            .try_fetch_served("k", 2_u64, FetchOptions::new(), || async {
                Err::<&str, &str>("down")
            })
            .await;
        assert_eq!(answer, Ok(("v1", Served::Stale)));
        cache.wait_for_refreshes().await;
    }
    let stats = cache.stats();
    assert_eq!((stats.refreshes_failed, stats.refreshes_backed_off), (1, 2));
    let read = tally.read();
    let backed_off = series(
        "async_cache_refreshes_total",
        &[("cache", "backoff"), ("outcome", "backed_off")],
    );
    assert_eq!(read[&backed_off], Value::Counter(2));
}
