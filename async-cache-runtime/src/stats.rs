//! The counters of a cache: the public [`Stats`] snapshot, and the atomics the engine
//! bumps.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::Relaxed};

/// Counters of one cache since it was built.
///
/// Every completed fetch counts exactly once in [`hits`](Stats::hits),
/// [`stale_hits`](Stats::stale_hits), [`misses`](Stats::misses) or
/// [`sync_refreshes`](Stats::sync_refreshes); the last two count every caller so served,
/// whether it ran the generator or waited for another caller's run of it.
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

/// Hits are the one counter of the hot path: spread over padded stripes so that
/// threads serving hits at once do not contend on one cache line.
const STRIPES: usize = 16;

#[repr(align(128))]
#[derive(Default)]
struct Padded(AtomicU64);

#[derive(Default)]
pub(crate) struct Counters {
    hits: [Padded; STRIPES],
    pub(crate) stale_hits: AtomicU64,
    pub(crate) misses: AtomicU64,
    pub(crate) sync_refreshes: AtomicU64,
    pub(crate) refreshes_started: AtomicU64,
    pub(crate) refreshes_completed: AtomicU64,
    pub(crate) refreshes_failed: AtomicU64,
    pub(crate) refreshes_dropped: AtomicU64,
    pub(crate) refreshes_elsewhere: AtomicU64,
    pub(crate) store_errors: AtomicU64,
    pub(crate) fail_safe_hits: AtomicU64,
    pub(crate) soft_timeouts: AtomicU64,
    pub(crate) refreshes_backed_off: AtomicU64,
}

fn stripe() -> usize {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    thread_local! {
        static STRIPE: usize = NEXT.fetch_add(1, Relaxed) % STRIPES;
    }
    STRIPE.with(|s| *s)
}

impl Counters {
    #[inline]
    pub(crate) fn hit(&self) {
        self.hits[stripe()].0.fetch_add(1, Relaxed);
    }

    pub(crate) fn bump(counter: &AtomicU64) {
        counter.fetch_add(1, Relaxed);
    }

    pub(crate) fn snapshot(&self) -> Stats {
        Stats {
            hits: self.hits.iter().map(|h| h.0.load(Relaxed)).sum(),
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
