//! Caching by time alone: exchange rates from an upstream API (simulated) that has no
//! versions, so the attribute leaves `version` out (it is `()`) and says how old a
//! value may get instead.
//!
//! ```text
//! cargo run --example rates
//! ```
//!
//! - `refresh_after`: a value this old is stale. A read of it is answered at once
//!   with it, and one background refresh asks the upstream again, so a hot entry is
//!   refreshed before it expires and no reader waits for the upstream.
//! - `expires_in`: a value this old is expired: an entry nobody read for that long
//!   is asked for again in the read.
//! - `fail_safe`: an expired value is kept this much longer as a fallback. When the
//!   upstream is down, a read that would ask it gets the fallback (`fail_safe`)
//!   instead of the error; after one such answer the upstream is left alone for the
//!   builder's `fail_safe_throttle`.
//!
//! The durations are short (a few hundred milliseconds) so that the whole story runs
//! in about three seconds; a service would use minutes. Each step's wait leaves
//! hundreds of milliseconds of margin either side of the boundary it crosses.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use async_cache_runtime::{Cache, Served, Stats, async_cached};

/// The cache's and the story's durations.
#[derive(Clone, Copy, Debug)]
pub struct Timing {
    pub refresh_after: Duration,
    pub expires_in: Duration,
    pub fail_safe: Duration,
    pub throttle: Duration,
    /// How long the story waits for a value to turn stale (more than
    /// `refresh_after`, well under `expires_in`).
    pub until_stale: Duration,
}

impl Timing {
    pub fn quick() -> Self {
        Timing {
            refresh_after: Duration::from_millis(400),
            expires_in: Duration::from_millis(1500),
            fail_safe: Duration::from_secs(60),
            throttle: Duration::from_millis(300),
            until_stale: Duration::from_millis(600),
        }
    }
}

/// What the upstream answers: EUR in US dollars, and which answer it was.
#[derive(Clone, Debug, PartialEq)]
pub struct Rates {
    /// 1 for the upstream's first successful answer, 2 for its second, ...
    pub revision: u64,
    pub eur_usd: f64,
}

#[derive(Debug)]
pub struct UpstreamDown;

impl std::fmt::Display for UpstreamDown {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the rates upstream is down")
    }
}

/// A rates API with a switch to make it fail. Clones share one upstream: a background
/// refresh owns a clone of its call's arguments.
#[derive(Clone, Default)]
pub struct Upstream(Arc<UpstreamState>);

#[derive(Default)]
struct UpstreamState {
    calls: AtomicU64,
    answers: AtomicU64,
    down: AtomicBool,
}

impl Upstream {
    async fn rates(&self) -> Result<Rates, UpstreamDown> {
        self.0.calls.fetch_add(1, Ordering::SeqCst);
        tokio::time::sleep(Duration::from_millis(20)).await; // the network
        if self.0.down.load(Ordering::SeqCst) {
            return Err(UpstreamDown);
        }
        let revision = self.0.answers.fetch_add(1, Ordering::SeqCst) + 1;
        // The rate drifts with each answer, so that a new answer shows.
        Ok(Rates {
            revision,
            eur_usd: 1.08 + 0.01 * revision as f64,
        })
    }

    /// Calls so far, failed ones included.
    pub fn calls(&self) -> u64 {
        self.0.calls.load(Ordering::SeqCst)
    }

    pub fn set_down(&self, down: bool) {
        self.0.down.store(down, Ordering::SeqCst);
    }
}

/// No `version`: with `refresh_after` given, the version is `()` and only age counts.
/// The durations are expressions, evaluated per call.
#[async_cached(
    locator = "rates/EUR",
    refresh_after = timing.refresh_after,
    expires_in = timing.expires_in,
    fail_safe = timing.fail_safe,
    cache = cache,
)]
async fn eur_rates(
    cache: &Cache,
    upstream: &Upstream,
    timing: &Timing,
) -> Result<Rates, UpstreamDown> {
    upstream.rates().await
}

/// One read of the story.
#[derive(Debug)]
pub struct Read {
    pub what: &'static str,
    pub served: Option<Served>,
    pub rates: Result<Rates, String>,
    /// The upstream's calls so far, once the read (and any refresh it started) ended.
    pub upstream_calls: u64,
}

impl std::fmt::Display for Read {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let served = self.served.map_or("-", Served::as_str);
        match &self.rates {
            Ok(rates) => write!(
                f,
                "{:<44} {served:<9} EUR/USD {:.4} (answer {}), upstream calls {}",
                self.what, rates.eur_usd, rates.revision, self.upstream_calls
            ),
            Err(error) => write!(f, "{:<44} {served:<9} error: {error}", self.what),
        }
    }
}

/// Runs the story; every read, in order, and the cache's counters at the end.
pub async fn run(timing: Timing) -> (Vec<Read>, Stats) {
    let cache = Cache::builder()
        .name("rates")
        .fail_safe_throttle(timing.throttle)
        .build();
    let upstream = Upstream::default();
    let mut reads = Vec::new();
    let mut read = async |what: &'static str| {
        let (rates, served) = Served::capture(eur_rates(&cache, &upstream, &timing)).await;
        // Let a refresh this read started land before the next step.
        cache.wait_for_refreshes().await;
        reads.push(Read {
            what,
            served,
            rates: rates.map_err(|error| error.to_string()),
            upstream_calls: upstream.calls(),
        });
    };

    read("first read: asks the upstream").await;
    read("again: a hit").await;
    tokio::time::sleep(timing.until_stale).await;
    read("older than refresh_after: stale, at once").await;
    read("the background refresh landed").await;

    upstream.set_down(true);
    tokio::time::sleep(timing.until_stale).await;
    read("upstream down, stale: its refresh fails").await;
    tokio::time::sleep(timing.expires_in).await;
    read("upstream down, expired: the fallback").await;
    read("throttled: the upstream is left alone").await;

    upstream.set_down(false);
    tokio::time::sleep(timing.throttle + timing.throttle / 2).await;
    read("upstream back, throttle over: asks again").await;
    (reads, cache.stats())
}

#[allow(dead_code)] // also compiled into `tests/rates.rs`, which has its own main
fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    let timing = Timing::quick();
    println!(
        "refresh_after {:?}, expires_in {:?}, fail_safe {:?}, fail_safe_throttle {:?}\n",
        timing.refresh_after, timing.expires_in, timing.fail_safe, timing.throttle
    );
    let (reads, stats) = runtime.block_on(run(timing));
    for read in &reads {
        println!("{read}");
    }
    println!(
        "\nhits {}, stale {}, misses {}, fail-safe answers {}, refreshes {} ({} failed)",
        stats.hits,
        stats.stale_hits,
        stats.misses,
        stats.fail_safe_hits,
        stats.refreshes_started,
        stats.refreshes_failed
    );
}
