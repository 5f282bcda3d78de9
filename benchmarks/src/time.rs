//! What the options of time and failure cost a read, side by side on the same
//! locators and value type as the fresh-hit contenders: a fresh hit with no option
//! set, the same hit on a cache with `refresh_after` (the entries younger than it, so
//! still hits: the age is read and compared on each), and a fail-safe answer during
//! an outage (the entries expired, their fallbacks kept, the throttle open: answered
//! without a generator call) against a `try_fetch` hit, of a cache with no option
//! and of one with the outage cache's `expires_in` and `fail_safe` (before the
//! outage).

use std::future::Future;
use std::hint::black_box;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::{Duration, Instant};

use async_cache_runtime::{Cache, FetchOptions, Served};

use crate::{CAPACITY, KEYS, VALUE_BYTES, Value, locators, order, payload};

/// Long enough that nothing measured turns stale, expires or leaves a window.
const LONG: Duration = Duration::from_secs(3600);
/// How long the outage cache's entries live before they are fallbacks.
const SHORT_TTL: Duration = Duration::from_millis(20);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TimeHit {
    /// `fetch` of a fresh entry, no option set.
    Plain,
    /// `fetch` of a fresh entry on a cache with `refresh_after`.
    RefreshAfter,
    /// `try_fetch` of a fresh entry, no option set.
    PlainTry,
    /// `try_fetch` of a fresh entry on a cache with `expires_in` and `fail_safe`: the
    /// outage cache's hit before the outage (its expiry read on each).
    TimedTry,
    /// `try_fetch` of an expired entry whose fallback is kept, while the fail-safe
    /// throttle is open: `Served::FailSafe`, no generator call.
    FailSafeThrottled,
}

impl TimeHit {
    pub const ALL: [TimeHit; 5] = [
        TimeHit::Plain,
        TimeHit::RefreshAfter,
        TimeHit::PlainTry,
        TimeHit::TimedTry,
        TimeHit::FailSafeThrottled,
    ];

    pub fn name(self) -> &'static str {
        match self {
            TimeHit::Plain => "fresh hit, no option (`fetch`)",
            TimeHit::RefreshAfter => "fresh hit, `refresh_after` set (`fetch`)",
            TimeHit::PlainTry => "fresh hit, no option (`try_fetch`)",
            TimeHit::TimedTry => "fresh hit, `expires_in` and `fail_safe` set (`try_fetch`)",
            TimeHit::FailSafeThrottled => "fail-safe answer, throttled (`try_fetch`)",
        }
    }

    pub fn id(self) -> &'static str {
        match self {
            TimeHit::Plain => "plain",
            TimeHit::RefreshAfter => "refresh_after",
            TimeHit::PlainTry => "plain_try",
            TimeHit::TimedTry => "timed_try",
            TimeHit::FailSafeThrottled => "fail_safe_throttled",
        }
    }
}

/// The caches, each filled with the same [`KEYS`] entries.
pub struct TimeContenders {
    pub keys: Vec<String>,
    pub order: Vec<u32>,
    pub plain: Cache,
    pub refresh_after: Cache,
    pub timed: Cache,
    pub outage: Cache,
    /// Generator calls of the outage cache's reads after it was set up: must stay 0.
    pub outage_calls: Arc<AtomicU64>,
}

fn fresh(locator: &str) -> impl Future<Output = Value> + Send + 'static {
    let value = payload(locator, VALUE_BYTES);
    async move { value }
}

fn fresh_ok(locator: &str) -> impl Future<Output = Result<Value, &'static str>> + Send + 'static {
    let value = payload(locator, VALUE_BYTES);
    async move { Ok(value) }
}

fn down(
    calls: &Arc<AtomicU64>,
) -> impl Future<Output = Result<Value, &'static str>> + Send + 'static {
    calls.fetch_add(1, Relaxed);
    async { Err("the backend is down") }
}

/// Runs `$op` (an expression of the key `$k`) `$iters` times over `$c`'s keys in its
/// order: one monomorphic loop per contender, as for the fresh-hit contenders.
macro_rules! time_loop {
    ($c:expr, $iters:expr, $from:expr, |$k:ident| $op:expr) => {{
        let keys = &$c.keys;
        let order = &$c.order;
        let mut i = $from % order.len();
        let start = Instant::now();
        for _ in 0..$iters {
            let $k: &str = &keys[order[i] as usize];
            i += 1;
            if i == order.len() {
                i = 0;
            }
            let _ = black_box($op);
        }
        start.elapsed()
    }};
}

impl TimeContenders {
    /// Needs a tokio runtime that is not paused: the outage cache's entries expire in
    /// real time.
    pub async fn new() -> Arc<Self> {
        let keys = locators(KEYS);
        let c = TimeContenders {
            order: order(KEYS, 1 << 14),
            plain: Cache::builder().max_capacity(CAPACITY).build(),
            refresh_after: Cache::builder()
                .max_capacity(CAPACITY)
                .refresh_after(LONG)
                .build(),
            timed: Cache::builder()
                .max_capacity(CAPACITY)
                .expires_in(LONG)
                .fail_safe(LONG)
                .build(),
            outage: Cache::builder()
                .max_capacity(CAPACITY)
                .expires_in(SHORT_TTL)
                .fail_safe(LONG)
                .fail_safe_throttle(LONG)
                .build(),
            outage_calls: Arc::default(),
            keys,
        };
        for key in &c.keys {
            c.plain.fetch(key.as_str(), 1_u64, || fresh(key)).await;
            c.refresh_after
                .fetch(key.as_str(), 1_u64, || fresh(key))
                .await;
            c.timed
                .try_fetch(key.as_str(), 1_u64, || fresh_ok(key))
                .await
                .expect("a fresh value");
            c.outage
                .try_fetch(key.as_str(), 1_u64, || fresh_ok(key))
                .await
                .expect("the backend is up while filling");
        }
        tokio::time::sleep(SHORT_TTL * 3).await;
        // The outage: each locator's first failed generation answers with its
        // fallback and opens its throttle.
        let failed = Arc::new(AtomicU64::new(0));
        for key in &c.keys {
            let (value, served) = c
                .outage
                .try_fetch_served(key.as_str(), 1_u64, FetchOptions::new(), || down(&failed))
                .await
                .expect("the fallback");
            assert_eq!(served, Served::FailSafe, "{key}");
            assert_eq!(value, payload(key, VALUE_BYTES));
        }
        assert_eq!(failed.load(Relaxed), KEYS as u64, "one failed call each");
        c.check().await;
        Arc::new(c)
    }

    /// Every contender answers as its name says, and the outage calls no generator.
    async fn check(&self) {
        let (plain, refresh_after) = (self.plain.stats(), self.refresh_after.stats());
        let timed = self.timed.stats();
        let outage = self.outage.stats();
        for key in &self.keys {
            self.plain.fetch(key.as_str(), 1_u64, || fresh(key)).await;
            self.refresh_after
                .fetch(key.as_str(), 1_u64, || fresh(key))
                .await;
            let (_, served) = self
                .timed
                .try_fetch_served(key.as_str(), 1_u64, FetchOptions::new(), || fresh_ok(key))
                .await
                .expect("a fresh value");
            assert_eq!(served, Served::Hit, "{key}");
            let (_, served) = self
                .outage
                .try_fetch_served(key.as_str(), 1_u64, FetchOptions::new(), || {
                    down(&self.outage_calls)
                })
                .await
                .expect("the fallback");
            assert_eq!(served, Served::FailSafe, "{key}");
        }
        let n = KEYS as u64;
        assert_eq!(self.plain.stats().hits, plain.hits + n);
        assert_eq!(self.refresh_after.stats().hits, refresh_after.hits + n);
        assert_eq!(self.refresh_after.stats().refreshes_started, 0);
        assert_eq!(self.timed.stats().hits, timed.hits + n);
        assert_eq!(
            self.outage.stats().fail_safe_hits,
            outage.fail_safe_hits + n
        );
        assert_eq!(self.outage_calls.load(Relaxed), 0, "throttled: no call");
    }

    /// `iters` reads of `which`, in this task, from place `from` of the order.
    pub async fn reads(&self, which: TimeHit, iters: u64, from: usize) -> Duration {
        match which {
            TimeHit::Plain => time_loop!(self, iters, from, |k| self
                .plain
                .fetch(k, 1_u64, || fresh(k))
                .await),
            TimeHit::RefreshAfter => time_loop!(self, iters, from, |k| self
                .refresh_after
                .fetch(k, 1_u64, || fresh(k))
                .await),
            TimeHit::PlainTry => time_loop!(self, iters, from, |k| self
                .plain
                .try_fetch(k, 1_u64, || fresh_ok(k))
                .await),
            TimeHit::TimedTry => time_loop!(self, iters, from, |k| self
                .timed
                .try_fetch(k, 1_u64, || fresh_ok(k))
                .await),
            TimeHit::FailSafeThrottled => time_loop!(self, iters, from, |k| self
                .outage
                .try_fetch(k, 1_u64, || down(&self.outage_calls))
                .await),
        }
    }
}
