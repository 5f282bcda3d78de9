//! A soak: about a million fetches over 100,000 locators from a two-worker runtime,
//! with random version bumps, 1% failing generators and a store far smaller than the
//! working set. Prints peak memory (a counting allocator), refreshes run against
//! deduplicated, and failures; checks every result's provenance, that no refresh is
//! left at the end and that every stat adds up. Exits non-zero on any violation.
//!
//! ```text
//! cargo run --release --example soak            # the full run
//! cargo run --release --example soak -- --quick # seconds (also `tests/soak_quick.rs`)
//! ```

use std::fmt;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_cache_runtime::{Cache, FetchOptions, Served, Stats};
use test_support::{CountingAllocator, Rng};

// --- a counting allocator ---------------------------------------------------------

#[global_allocator]
static ALLOCATOR: CountingAllocator = CountingAllocator::new();

/// It counts from the process's first allocation, so live bytes never go below zero.
fn bytes(live: isize) -> usize {
    usize::try_from(live).unwrap_or(0)
}

// --- the run ----------------------------------------------------------------------

/// How big a soak.
#[derive(Clone, Debug)]
pub struct Config {
    pub fetches: u64,
    pub locators: u32,
    pub max_capacity: u64,
    pub tasks: u64,
    /// Percent of fetches that first bump their locator's version.
    pub bump_percent: u64,
    /// Per mille of generators that fail.
    pub fail_per_mille: u64,
    /// A violation if the peak of live heap bytes passes this.
    pub memory_bound: usize,
}

impl Config {
    pub fn full() -> Self {
        Config {
            fetches: 1_000_000,
            locators: 100_000,
            max_capacity: 10_000,
            tasks: 64,
            bump_percent: 2,
            fail_per_mille: 10,
            memory_bound: 512 << 20,
        }
    }

    pub fn quick() -> Self {
        Config {
            fetches: 50_000,
            locators: 10_000,
            max_capacity: 1_000,
            tasks: 16,
            ..Self::full()
        }
    }
}

/// What a soak measured.
#[derive(Debug)]
pub struct Report {
    pub config: Config,
    pub elapsed: Duration,
    pub stats: Stats,
    pub completed: u64,
    pub caller_errors: u64,
    pub baseline_bytes: usize,
    pub peak_bytes: usize,
    pub end_bytes: usize,
    pub drain: Duration,
}

impl Report {
    /// Stale hits that scheduled nothing: another refresh of the locator was in flight.
    pub fn deduplicated(&self) -> u64 {
        let s = &self.stats;
        s.stale_hits
            .saturating_sub(s.refreshes_started + s.refreshes_dropped)
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = &self.stats;
        let c = &self.config;
        let mib = |b: usize| b as f64 / (1 << 20) as f64;
        let secs = self.elapsed.as_secs_f64();
        writeln!(
            f,
            "soak: {} fetches over {} locators, max_capacity {}, {} tasks on 2 workers",
            c.fetches, c.locators, c.max_capacity, c.tasks
        )?;
        writeln!(
            f,
            "  time            {secs:.2} s ({:.0} fetches/s)",
            self.completed as f64 / secs
        )?;
        writeln!(
            f,
            "  served          {} hits, {} stale, {} misses, {} sync",
            s.hits, s.stale_hits, s.misses, s.sync_refreshes
        )?;
        writeln!(
            f,
            "  refreshes       {} run ({} completed, {} failed), {} deduplicated, {} dropped",
            s.refreshes_started,
            s.refreshes_completed,
            s.refreshes_failed,
            self.deduplicated(),
            s.refreshes_dropped
        )?;
        writeln!(
            f,
            "  failures        {} returned to callers, {} in background refreshes",
            self.caller_errors, s.refreshes_failed
        )?;
        writeln!(
            f,
            "  memory          peak {:.1} MiB live heap (baseline {:.1} MiB, {:.1} MiB at the end)",
            mib(self.peak_bytes),
            mib(self.baseline_bytes),
            mib(self.end_bytes)
        )?;
        write!(
            f,
            "  drain           no refresh left after {:.1} ms",
            self.drain.as_secs_f64() * 1e3
        )
    }
}

struct Shared {
    cache: Cache,
    versions: Vec<AtomicU32>,
    completed: AtomicU64,
    caller_errors: AtomicU64,
    generated: AtomicU64,
    violations: Mutex<Vec<String>>,
}

impl Shared {
    fn violation(&self, what: String) {
        let mut v = self.violations.lock().unwrap();
        if v.len() < 20 {
            v.push(what);
        }
    }
}

async fn worker(shared: Arc<Shared>, config: Config, task: u64, fetches: u64) {
    let mut rng = Rng::new(task + 1);
    let locators = u64::from(config.locators);
    // Nine fetches in ten go to a hot twentieth of the locators.
    let hot = (locators / 20).max(1);
    for _ in 0..fetches {
        // One fetch per request: a server's tasks yield between requests, which lets
        // the refresh tasks run.
        tokio::task::yield_now().await;
        let locator = if rng.below(10) < 9 {
            rng.below(hot)
        } else {
            rng.below(locators)
        } as usize;
        let name = format!("thing/{locator}");
        if rng.below(100) < config.bump_percent {
            shared.versions[locator].fetch_add(1, Relaxed);
        }
        let version = shared.versions[locator].load(Relaxed);
        let fails = rng.below(1000) < config.fail_per_mille;
        let slow = rng.below(10) == 0;
        // One caller in a hundred must see its own change: force_sync.
        let options = FetchOptions::new().force_sync(rng.below(100) == 0);
        let value = format!("{name}@{version}");
        let counter = shared.clone();
        let generate = move || async move {
            counter.generated.fetch_add(1, Relaxed);
            // Generators cost something: a yield, or a millisecond for one in ten.
            if slow {
                tokio::time::sleep(Duration::from_millis(1)).await;
            } else {
                tokio::task::yield_now().await;
            }
            if fails {
                Err("planned failure")
            } else {
                Ok(value)
            }
        };
        let result = shared
            .cache
            .try_fetch_served(name.as_str(), version, options, generate)
            .await;
        shared.completed.fetch_add(1, Relaxed);
        match result {
            Err(_) => {
                shared.caller_errors.fetch_add(1, Relaxed);
            }
            Ok((value, served)) => {
                let parsed = value
                    .rsplit_once('@')
                    .and_then(|(of, v)| Some((of, v.parse::<u32>().ok()?)));
                let Some((of, made_at)) = parsed else {
                    shared.violation(format!("{name}: unrecognisable value {value:?}"));
                    continue;
                };
                let allowed = match served {
                    Served::Hit | Served::Miss | Served::Sync => made_at >= version,
                    Served::Stale => made_at < version,
                };
                if of != name || !allowed {
                    shared.violation(format!("{name}@{version}: {served:?} returned {value:?}"));
                }
            }
        }
    }
}

/// Runs a soak on its own two-worker runtime; `Err` lists the violations.
pub fn run(config: &Config) -> Result<Report, Vec<String>> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a two-worker runtime");
    let baseline_bytes = bytes(ALLOCATOR.reset_peak());
    let shared = Arc::new(Shared {
        cache: Cache::builder().max_capacity(config.max_capacity).build(),
        versions: (0..config.locators).map(|_| AtomicU32::new(1)).collect(),
        completed: AtomicU64::new(0),
        caller_errors: AtomicU64::new(0),
        generated: AtomicU64::new(0),
        violations: Mutex::default(),
    });
    let started = Instant::now();
    let (elapsed, drain) = runtime.block_on(async {
        let per_task = config.fetches / config.tasks;
        let tasks: Vec<_> = (0..config.tasks)
            .map(|t| tokio::spawn(worker(shared.clone(), config.clone(), t, per_task)))
            .collect();
        for task in tasks {
            if let Err(error) = task.await {
                shared.violation(format!("a fetching task failed: {error}"));
            }
        }
        let elapsed = started.elapsed();
        let drain_start = Instant::now();
        let idle = tokio::time::timeout(Duration::from_secs(30), shared.cache.wait_for_refreshes());
        if idle.await.is_err() {
            shared.violation("refreshes still pending 30 s after the last fetch".into());
        }
        (elapsed, drain_start.elapsed())
    });
    let stats = shared.cache.stats();
    let completed = shared.completed.load(Relaxed);
    let caller_errors = shared.caller_errors.load(Relaxed);
    let mut violations = shared.violations.lock().unwrap().clone();
    let mut require = |ok: bool, what: &str| {
        if !ok {
            violations.push(format!("{what}: {stats:?}"));
        }
    };
    let s = stats;
    require(
        completed == config.fetches / config.tasks * config.tasks,
        "every fetch completed",
    );
    require(
        s.hits + s.stale_hits + s.misses + s.sync_refreshes == completed,
        "every completed fetch counts once",
    );
    require(
        s.refreshes_started == s.refreshes_completed + s.refreshes_failed + s.refreshes_elsewhere,
        "once idle, every refresh started completed or failed",
    );
    require(
        s.refreshes_started + s.refreshes_dropped <= s.stale_hits,
        "at most one refresh per stale hit",
    );
    require(
        caller_errors <= s.misses + s.sync_refreshes,
        "errors come from generations in the caller",
    );
    require(
        shared.generated.load(Relaxed) <= s.misses + s.sync_refreshes + s.refreshes_started,
        "generators run only for misses, sync refreshes and refreshes",
    );
    require(s.store_errors == 0, "no store errors in memory");
    require(
        s.refreshes_failed > 0 && caller_errors > 0 && s.stale_hits > 0 && s.hits > 0,
        "the soak exercised failures, stale hits and hits",
    );
    let peak_bytes = bytes(ALLOCATOR.peak_bytes());
    if peak_bytes > config.memory_bound {
        violations.push(format!(
            "peak heap {peak_bytes} bytes over the bound {}",
            config.memory_bound
        ));
    }
    drop(shared);
    runtime.shutdown_timeout(Duration::from_secs(5));
    let report = Report {
        config: config.clone(),
        elapsed,
        stats,
        completed,
        caller_errors,
        baseline_bytes,
        peak_bytes,
        end_bytes: bytes(ALLOCATOR.live_bytes()),
        drain,
    };
    if violations.is_empty() {
        Ok(report)
    } else {
        violations.push(format!("{report}"));
        Err(violations)
    }
}

#[allow(dead_code)] // also compiled into `tests/soak_quick.rs`, which has its own main
fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let config = if quick {
        Config::quick()
    } else {
        Config::full()
    };
    match run(&config) {
        Ok(report) => println!("{report}\nsoak: ok"),
        Err(violations) => {
            eprintln!("soak: {} violation(s)", violations.len());
            for v in violations {
                eprintln!("  {v}");
            }
            std::process::exit(1);
        }
    }
}
