//! The counters of a cache: the public [`Stats`] snapshot, and the atomics the engine
//! bumps.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

use crate::Served;
use hits::Hits;

mod hits;
use crate::telemetry::{Kind, Refresh};

/// Counters of one cache since it was built.
///
/// Every completed fetch counts exactly once in [`hits`](Stats::hits),
/// [`stale_hits`](Stats::stale_hits), [`misses`](Stats::misses),
/// [`sync_refreshes`](Stats::sync_refreshes) or
/// [`fail_safe_hits`](Stats::fail_safe_hits) (a fetch answered with a fallback counts
/// there only); misses and sync refreshes count every caller so served, whether it ran
/// the generator or waited for another caller's run of it.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let cache = async_cache_runtime::Cache::new();
/// cache.fetch("greeting", 1, || async { "hello" }).await;
/// cache.fetch("greeting", 1, || async { "hello" }).await;
/// let stats = cache.stats();
/// assert_eq!((stats.misses, stats.hits), (1, 1));
/// # }
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[non_exhaustive]
pub struct Stats {
    /// Fresh entry served.
    pub hits: u64,
    /// Stale entry served (a refresh was scheduled, joined or dropped).
    pub stale_hits: u64,
    /// No usable entry: generated in the caller.
    pub misses: u64,
    /// Stale entry regenerated in the caller (`force_sync`, or no worker).
    pub sync_refreshes: u64,
    /// Background refreshes that began running. Each one that began ends counted in
    /// exactly one of [`refreshes_completed`](Stats::refreshes_completed) or
    /// [`refreshes_failed`](Stats::refreshes_failed); one that another process was
    /// already running counts in [`refreshes_elsewhere`](Stats::refreshes_elsewhere)
    /// instead of here.
    pub refreshes_started: u64,
    /// Background refreshes that began and ended without error: their result was
    /// written, or discarded because the entry was invalidated or a version as new
    /// was stored meanwhile.
    pub refreshes_completed: u64,
    /// Background refreshes that began and failed: the generator returned `Err` or
    /// panicked, the refresh ran past
    /// [`refresh_timeout`](crate::CacheBuilder::refresh_timeout), or the runtime it
    /// ran on shut down under it. The stale entry stays in every case.
    pub refreshes_failed: u64,
    /// Background refreshes not run: refresh concurrency and queue were full, or the
    /// runtime shut down before the refresh began.
    pub refreshes_dropped: u64,
    /// Background refreshes not run here: another process held the shared tier's
    /// refresh lock of the locator (always 0 in memory).
    pub refreshes_elsewhere: u64,
    /// Store reads or writes that failed or timed out (always 0 in memory).
    pub store_errors: u64,
    /// Fetches answered with a fallback (`Served::FailSafe`): a failed or throttled
    /// generation under `fail_safe`, or a soft timeout. Counted here only.
    pub fail_safe_hits: u64,
    /// Of those, the ones answered by a soft timeout.
    pub soft_timeouts: u64,
    /// Stale reads that scheduled no refresh: their locator's refresh back-off held.
    pub refreshes_backed_off: u64,
}

/// Every counter of one cache, and (feature `metrics`) the metric handles that mirror
/// them: each event moves its `Stats` atomic and its metric in one method, so the two
/// move exactly alike.
pub(crate) struct Counters {
    hits: Hits,
    stale_hits: AtomicU64,
    misses: AtomicU64,
    sync_refreshes: AtomicU64,
    refreshes_started: AtomicU64,
    refreshes_completed: AtomicU64,
    refreshes_failed: AtomicU64,
    refreshes_dropped: AtomicU64,
    refreshes_elsewhere: AtomicU64,
    store_errors: AtomicU64,
    fail_safe_hits: AtomicU64,
    soft_timeouts: AtomicU64,
    refreshes_backed_off: AtomicU64,
    /// The `cache` label and span field.
    name: Box<str>,
    #[cfg(feature = "metrics")]
    metrics: crate::telemetry::metrics::Handles,
}

fn bump(counter: &AtomicU64) {
    counter.fetch_add(1, Relaxed);
}

impl Counters {
    /// Registers the metric handles with the recorder installed now.
    pub(crate) fn new(name: &str) -> Self {
        Counters {
            hits: Default::default(),
            stale_hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
            sync_refreshes: AtomicU64::new(0),
            refreshes_started: AtomicU64::new(0),
            refreshes_completed: AtomicU64::new(0),
            refreshes_failed: AtomicU64::new(0),
            refreshes_dropped: AtomicU64::new(0),
            refreshes_elsewhere: AtomicU64::new(0),
            store_errors: AtomicU64::new(0),
            fail_safe_hits: AtomicU64::new(0),
            soft_timeouts: AtomicU64::new(0),
            refreshes_backed_off: AtomicU64::new(0),
            name: name.into(),
            #[cfg(feature = "metrics")]
            metrics: crate::telemetry::metrics::Handles::register(name),
        }
    }

    pub(crate) fn name(&self) -> &str {
        &self.name
    }

    /// A completed fetch, counted by how it was served.
    #[inline]
    pub(crate) fn served(&self, served: Served) {
        match served {
            Served::Hit => {
                self.hits.count();
                #[cfg(feature = "metrics")]
                self.metrics.hit.increment(1);
            }
            Served::Stale => {
                bump(&self.stale_hits);
                #[cfg(feature = "metrics")]
                self.metrics.stale.increment(1);
            }
            Served::Miss => {
                bump(&self.misses);
                #[cfg(feature = "metrics")]
                self.metrics.miss.increment(1);
            }
            Served::Sync => {
                bump(&self.sync_refreshes);
                #[cfg(feature = "metrics")]
                self.metrics.sync.increment(1);
            }
            Served::FailSafe => {
                bump(&self.fail_safe_hits);
                #[cfg(feature = "metrics")]
                self.metrics.fail_safe.increment(1);
            }
        }
    }

    /// A fallback answered a caller whose generation outlasted its soft timeout (it
    /// is also counted as served `FailSafe`).
    pub(crate) fn soft_timeout(&self) {
        bump(&self.soft_timeouts);
    }

    /// A background refresh's step or end.
    pub(crate) fn refresh(&self, outcome: Refresh) {
        let counter = match outcome {
            Refresh::Started => &self.refreshes_started,
            Refresh::Completed => &self.refreshes_completed,
            Refresh::Failed => &self.refreshes_failed,
            Refresh::Dropped => &self.refreshes_dropped,
            Refresh::Elsewhere => &self.refreshes_elsewhere,
            Refresh::BackedOff => &self.refreshes_backed_off,
        };
        bump(counter);
        self.metric_refresh(outcome);
    }

    fn metric_refresh(&self, _outcome: Refresh) {
        #[cfg(feature = "metrics")]
        self.metrics.refresh(_outcome).increment(1);
    }

    /// A store read or write that failed or timed out.
    pub(crate) fn store_error(&self) {
        bump(&self.store_errors);
        #[cfg(feature = "metrics")]
        self.metrics.store_errors.increment(1);
    }

    /// How long one generator run took.
    pub(crate) fn generation(&self, _kind: Kind, _ran: Duration) {
        #[cfg(feature = "metrics")]
        self.metrics.generation(_kind).record(_ran);
    }

    /// The age of an entry served stale.
    pub(crate) fn stale_age(&self, _age: Duration) {
        #[cfg(feature = "metrics")]
        self.metrics.stale_age.record(_age);
    }

    /// A background refresh's result stored, `_lag` after the first stale read of the
    /// entry it replaced.
    pub(crate) fn refresh_lag(&self, _lag: Duration) {
        #[cfg(feature = "metrics")]
        self.metrics.refresh_lag.record(_lag);
    }

    /// A refresh took a place in the worker's queue.
    pub(crate) fn refresh_queued(&self) {
        #[cfg(feature = "metrics")]
        self.metrics.queued.increment(1.0);
    }

    /// A queued refresh began to run.
    pub(crate) fn refresh_running(&self) {
        #[cfg(feature = "metrics")]
        {
            self.metrics.queued.decrement(1.0);
            self.metrics.running.increment(1.0);
        }
    }

    /// A refresh gave its place back, running or still queued.
    pub(crate) fn refresh_left(&self, _running: bool) {
        #[cfg(feature = "metrics")]
        if _running {
            self.metrics.running.decrement(1.0);
        } else {
            self.metrics.queued.decrement(1.0);
        }
    }

    pub(crate) fn snapshot(&self) -> Stats {
        Stats {
            hits: self.hits.total(),
            stale_hits: self.stale_hits.load(Relaxed),
            misses: self.misses.load(Relaxed),
            sync_refreshes: self.sync_refreshes.load(Relaxed),
            refreshes_started: self.refreshes_started.load(Relaxed),
            refreshes_completed: self.refreshes_completed.load(Relaxed),
            refreshes_failed: self.refreshes_failed.load(Relaxed),
            refreshes_dropped: self.refreshes_dropped.load(Relaxed),
            refreshes_elsewhere: self.refreshes_elsewhere.load(Relaxed),
            store_errors: self.store_errors.load(Relaxed),
            fail_safe_hits: self.fail_safe_hits.load(Relaxed),
            soft_timeouts: self.soft_timeouts.load(Relaxed),
            refreshes_backed_off: self.refreshes_backed_off.load(Relaxed),
        }
    }
}
