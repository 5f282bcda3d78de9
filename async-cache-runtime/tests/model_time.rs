//! Contract §6 (crate docs) as a reference model, checked against the real `Cache` on
//! seeded random sequences of fetches (versions, `refresh_after`, `expires_in`,
//! `fail_safe`, `force_sync`, failing generators), `put`, `expire`, `invalidate` and
//! advances of tokio's paused clock.
//!
//! Unlike `model.rs`, which follows refreshes racing the operations, every operation
//! here runs to its end (a stale read's refresh included: the test waits for it) on a
//! current-thread runtime with paused time, so the model is one exact state per
//! locator: the entry (version, which generation or `put` made it, when it landed, the
//! expiry and fail-safe window its writer set, the `expire` mark), the fail-safe
//! throttle and the refresh back-off. After every operation the value served, how it
//! was served, which generators ran and every counter must be what the model says.
//!
//! A failure prints its seed and the operations so far; `MODEL_TIME_SEED=<seed>`
//! replays that one sequence, `MODEL_TIME_CASES=<n>` runs more.

mod common;

use std::collections::BTreeSet;
use std::panic::AssertUnwindSafe;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_cache_runtime::{Cache, FetchOptions, Served, Stats};
use common::quiet_planned_panics;
use futures_util::FutureExt;
use test_support::Rng;

const LOCATORS: [&str; 2] = ["a", "b"];
/// A hang guard, not a timing assertion: under paused time it fires at once if an
/// operation ever waits on nothing, and the clock check after it reports the jump.
const HANG: Duration = Duration::from_secs(3600);

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

// --- operations ------------------------------------------------------------------

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Ok,
    Err,
    Panic,
}

/// Per-call options, in milliseconds; `None` leaves the builder's default.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Opts {
    refresh_after: Option<u64>,
    expires_in: Option<u64>,
    fail_safe: Option<u64>,
}

impl Opts {
    fn or(self, default: Opts) -> Opts {
        Opts {
            refresh_after: self.refresh_after.or(default.refresh_after),
            expires_in: self.expires_in.or(default.expires_in),
            fail_safe: self.fail_safe.or(default.fail_safe),
        }
    }

    fn fetch_options(self, force_sync: bool) -> FetchOptions {
        let mut options = FetchOptions::new().force_sync(force_sync);
        if let Some(age) = self.refresh_after {
            options = options.refresh_after(ms(age));
        }
        if let Some(ttl) = self.expires_in {
            options = options.expires_in(ms(ttl));
        }
        if let Some(max) = self.fail_safe {
            options = options.fail_safe(ms(max));
        }
        options
    }
}

#[derive(Clone, Debug)]
enum Op {
    Fetch {
        locator: usize,
        version: u32,
        opts: Opts,
        force_sync: bool,
        kind: Kind,
    },
    Put {
        locator: usize,
        version: u32,
        opts: Opts,
    },
    Expire(usize),
    Invalidate(usize),
    InvalidateAll,
    Advance(u64),
}

/// What the cache is built with: its defaults and whether it has a worker.
#[derive(Clone, Copy, Debug)]
struct Config {
    worker: bool,
    defaults: Opts,
    throttle: u64,
    backoff: Option<(u64, u64)>,
}

impl Config {
    fn draw(rng: &mut Rng) -> Config {
        let mut defaults = Opts::default();
        if rng.chance(30) {
            defaults.refresh_after = Some(pick(rng, &[2_000, 5_000]));
        }
        if rng.chance(30) {
            defaults.expires_in = Some(pick(rng, &[3_000, 6_000]));
        }
        if rng.chance(30) {
            defaults.fail_safe = Some(pick(rng, &[4_000, 10_000]));
        }
        Config {
            worker: rng.chance(75),
            defaults,
            throttle: pick(rng, &[1_000, 3_000]),
            backoff: rng.chance(50).then_some((1_000, 4_000)),
        }
    }

    fn build(&self) -> Cache {
        let mut builder = Cache::builder()
            .max_capacity(1_000)
            .fail_safe_throttle(ms(self.throttle));
        if !self.worker {
            builder = builder.refresh_concurrency(0);
        }
        if let Some(age) = self.defaults.refresh_after {
            builder = builder.refresh_after(ms(age));
        }
        if let Some(ttl) = self.defaults.expires_in {
            builder = builder.expires_in(ms(ttl));
        }
        if let Some(max) = self.defaults.fail_safe {
            builder = builder.fail_safe(ms(max));
        }
        if let Some((first, max)) = self.backoff {
            builder = builder.refresh_backoff(ms(first), ms(max));
        }
        builder.build()
    }
}

fn pick(rng: &mut Rng, from: &[u64]) -> u64 {
    from[rng.below(from.len() as u64) as usize]
}

fn draw_opts(rng: &mut Rng) -> Opts {
    Opts {
        refresh_after: rng.chance(30).then(|| pick(rng, &[1_000, 2_000, 4_000])),
        expires_in: rng.chance(35).then(|| pick(rng, &[1_000, 3_000, 5_000])),
        fail_safe: rng.chance(35).then(|| pick(rng, &[2_000, 6_000])),
    }
}

fn draw_op(rng: &mut Rng) -> Op {
    let locator = rng.below(LOCATORS.len() as u64) as usize;
    let version = rng.below(4) as u32;
    match rng.below(100) {
        0..55 => Op::Fetch {
            locator,
            version,
            opts: draw_opts(rng),
            force_sync: rng.chance(15),
            kind: match rng.below(10) {
                0..7 => Kind::Ok,
                7..9 => Kind::Err,
                _ => Kind::Panic,
            },
        },
        55..65 => Op::Put {
            locator,
            version,
            opts: draw_opts(rng),
        },
        65..71 => Op::Expire(locator),
        71..75 => Op::Invalidate(locator),
        75..76 => Op::InvalidateAll,
        // Steps that land on and just around every boundary the options can make.
        _ => Op::Advance(pick(rng, &[1, 499, 500, 999, 1_000, 1_000, 2_000, 3_000])),
    }
}

// --- the model -------------------------------------------------------------------

#[derive(Clone, Debug)]
struct Entry {
    version: u32,
    /// The generation (or `put`) that made it.
    made_by: u64,
    /// When its value landed, in model milliseconds.
    written: u64,
    expires_in: Option<u64>,
    fail_safe: Option<u64>,
    marked: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Standing {
    Live,
    /// Past its expiry, within its writer's fail-safe window.
    Fallback,
    Gone,
}

impl Entry {
    /// Contract §6, *Clock*: expired at an age of at least `expires_in`; a fallback
    /// while its time past expiry is less than `fail_safe`'s max.
    fn standing(&self, now: u64) -> Standing {
        let Some(ttl) = self.expires_in else {
            return Standing::Live;
        };
        let expires_at = self.written + ttl;
        if now < expires_at {
            Standing::Live
        } else if self.fail_safe.is_some_and(|max| now < expires_at + max) {
            Standing::Fallback
        } else {
            Standing::Gone
        }
    }
}

#[derive(Clone, Debug, Default)]
struct Loc {
    entry: Option<Entry>,
    /// The fail-safe throttle covers `[opened, until)`.
    throttle_until: Option<u64>,
    /// Consecutive failed refreshes, and the end of the back-off window.
    backoff: Option<(u32, u64)>,
}

/// What one operation is seen to do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Obs {
    Hit(u64),
    Stale(u64),
    Miss(u64),
    Sync(u64),
    FailSafe(u64),
    /// `Err` from a generation run for the caller (counted as a miss or a sync
    /// refresh, which the counters check).
    Err,
    Panic,
    Put(bool),
    Done,
}

/// The counters the model predicts.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Counts {
    hits: u64,
    stale_hits: u64,
    misses: u64,
    sync_refreshes: u64,
    fail_safe_hits: u64,
    refreshes_started: u64,
    refreshes_completed: u64,
    refreshes_failed: u64,
    refreshes_backed_off: u64,
}

impl Counts {
    fn of(stats: &Stats) -> Counts {
        Counts {
            hits: stats.hits,
            stale_hits: stats.stale_hits,
            misses: stats.misses,
            sync_refreshes: stats.sync_refreshes,
            fail_safe_hits: stats.fail_safe_hits,
            refreshes_started: stats.refreshes_started,
            refreshes_completed: stats.refreshes_completed,
            refreshes_failed: stats.refreshes_failed,
            refreshes_backed_off: stats.refreshes_backed_off,
        }
    }
}

struct Model {
    config: Config,
    now: u64,
    locs: Vec<Loc>,
    counts: Counts,
}

/// A fetch, as the model sees it: its generation's id, and what its generator does.
struct Call {
    version: u32,
    opts: Opts,
    force_sync: bool,
    kind: Kind,
    id: u64,
}

impl Model {
    fn new(config: Config) -> Self {
        Model {
            config,
            now: 0,
            locs: vec![Loc::default(); LOCATORS.len()],
            counts: Counts::default(),
        }
    }

    /// The no-downgrade rule: a live entry of a newer version stays; an equal version
    /// is a newer make here (nothing else writes between a generation's start and its
    /// write) and replaces it. Whatever lands closes the throttle and clears the mark.
    fn write(&mut self, l: usize, version: u32, made_by: u64, opts: Opts) -> bool {
        let now = self.now;
        let loc = &mut self.locs[l];
        let live = loc
            .entry
            .as_ref()
            .filter(|e| e.standing(now) == Standing::Live);
        if live.is_some_and(|e| e.version > version) {
            return false;
        }
        loc.entry = Some(Entry {
            version,
            made_by,
            written: now,
            expires_in: opts.expires_in,
            fail_safe: opts.fail_safe,
            marked: false,
        });
        loc.throttle_until = None;
        true
    }

    /// A fetch: what it observes, and which generation ran (the caller's own, in the
    /// caller or as the background refresh it scheduled), if any.
    fn fetch(&mut self, l: usize, call: &Call) -> (Obs, Option<u64>) {
        let now = self.now;
        let opts = call.opts.or(self.config.defaults);
        let loc = &self.locs[l];
        let usable = loc
            .entry
            .clone()
            .map(|e| (e.standing(now), e))
            .filter(|(standing, _)| *standing != Standing::Gone);
        // Contract §1 and §6: what the entry is to this caller.
        #[derive(PartialEq)]
        enum Found {
            Absent,
            Current,
            Outdated,
            Expired,
        }
        let found = match &usable {
            None => Found::Absent,
            Some((Standing::Fallback, _)) if opts.fail_safe.is_some() => Found::Expired,
            Some((Standing::Fallback, _)) => Found::Absent,
            Some((_, e)) => {
                let aged = opts
                    .refresh_after
                    .is_some_and(|age| call.version >= e.version && now - e.written >= age);
                if call.version <= e.version && !e.marked && !aged {
                    Found::Current
                } else {
                    Found::Outdated
                }
            }
        };
        let entry = usable.map(|(_, e)| e);
        let fallback = match found {
            Found::Outdated | Found::Expired => entry.clone(),
            Found::Absent | Found::Current => None,
        };
        let throttled = fallback.is_some()
            && opts.fail_safe.is_some()
            && loc.throttle_until.is_some_and(|until| now < until);
        let c = &mut self.counts;
        if found == Found::Current {
            c.hits += 1;
            return (Obs::Hit(entry.expect("current").made_by), None);
        }
        if found == Found::Outdated && self.config.worker && !call.force_sync {
            let e = entry.expect("outdated");
            c.stale_hits += 1;
            if loc.backoff.is_some_and(|(_, until)| now < until) {
                c.refreshes_backed_off += 1;
                return (Obs::Stale(e.made_by), None);
            }
            // The refresh runs to its end before the next operation: nothing is
            // written meanwhile, so it is not superseded and runs its generator.
            c.refreshes_started += 1;
            if call.kind == Kind::Ok {
                c.refreshes_completed += 1;
                self.locs[l].backoff = None;
                self.write(l, call.version, call.id, opts);
            } else {
                c.refreshes_failed += 1;
                if let Some((first, max)) = self.config.backoff {
                    let failures = self.locs[l].backoff.map_or(0, |(n, _)| n) + 1;
                    let window = (first << (failures - 1).min(20)).min(max);
                    self.locs[l].backoff = Some((failures, now + window));
                }
            }
            return (Obs::Stale(e.made_by), Some(call.id));
        }
        // The throttle never answers a caller that asked for the latest.
        if throttled && !call.force_sync {
            c.fail_safe_hits += 1;
            return (Obs::FailSafe(fallback.expect("throttled").made_by), None);
        }
        let sync = found == Found::Outdated;
        let fail_safe = fallback.filter(|_| opts.fail_safe.is_some());
        let obs = match (call.kind, fail_safe) {
            (Kind::Ok, _) => {
                self.write(l, call.version, call.id, opts);
                if sync {
                    self.counts.sync_refreshes += 1;
                    Obs::Sync(call.id)
                } else {
                    self.counts.misses += 1;
                    Obs::Miss(call.id)
                }
            }
            (Kind::Err | Kind::Panic, Some(fallback)) => {
                self.counts.fail_safe_hits += 1;
                let loc = &mut self.locs[l];
                if loc.throttle_until.is_none_or(|until| now >= until) {
                    loc.throttle_until = Some(now + self.config.throttle);
                }
                Obs::FailSafe(fallback.made_by)
            }
            (Kind::Err, None) => {
                if sync {
                    self.counts.sync_refreshes += 1;
                } else {
                    self.counts.misses += 1;
                }
                Obs::Err
            }
            // A panic reaches the caller: the fetch did not complete, nothing counts.
            (Kind::Panic, None) => Obs::Panic,
        };
        (obs, Some(call.id))
    }

    fn step(&mut self, op: &Op, id: u64) -> (Obs, Option<u64>) {
        match *op {
            Op::Fetch {
                locator,
                version,
                opts,
                force_sync,
                kind,
            } => self.fetch(
                locator,
                &Call {
                    version,
                    opts,
                    force_sync,
                    kind,
                    id,
                },
            ),
            Op::Put {
                locator,
                version,
                opts,
            } => {
                let opts = opts.or(self.config.defaults);
                (Obs::Put(self.write(locator, version, id, opts)), None)
            }
            Op::Expire(l) => {
                let now = self.now;
                if let Some(e) = &mut self.locs[l].entry {
                    if e.standing(now) != Standing::Gone {
                        e.marked = true;
                    }
                }
                (Obs::Done, None)
            }
            Op::Invalidate(l) => {
                self.locs[l].entry = None;
                (Obs::Done, None)
            }
            Op::InvalidateAll => {
                self.locs.iter_mut().for_each(|loc| loc.entry = None);
                (Obs::Done, None)
            }
            Op::Advance(d) => {
                self.now += d;
                (Obs::Done, None)
            }
        }
    }
}

// --- running a sequence ------------------------------------------------------------

/// Generations that ran, by id.
#[derive(Clone, Default)]
struct Ran(Arc<Mutex<BTreeSet<u64>>>);

impl Ran {
    fn take(&self) -> BTreeSet<u64> {
        std::mem::take(&mut *self.0.lock().unwrap())
    }
}

struct Case {
    seed: u64,
    config: Config,
    cache: Cache,
    model: Model,
    ran: Ran,
    /// The locator and version each generation or `put` made its value for, by id.
    made_for: Vec<(usize, u32)>,
    log: Vec<String>,
    start: tokio::time::Instant,
}

impl Case {
    fn fail(&self, why: String) -> String {
        format!(
            "{why}\nseed: {} (replay: MODEL_TIME_SEED={})\nconfig: {:?}\noperations:\n  {}\nstats: {:?}",
            self.seed,
            self.seed,
            self.config,
            self.log.join("\n  "),
            self.cache.stats()
        )
    }

    async fn run(&mut self, op: &Op) -> Result<Obs, String> {
        let id = self.made_for.len() as u64;
        match *op {
            Op::Fetch {
                locator,
                version,
                opts,
                force_sync,
                kind,
            } => {
                self.made_for.push((locator, version));
                let ran = self.ran.clone();
                let generate = move || async move {
                    ran.0.lock().unwrap().insert(id);
                    match kind {
                        Kind::Ok => Ok(id),
                        Kind::Err => Err(format!("planned error #{id}")),
                        Kind::Panic => panic!("planned panic #{id}"),
                    }
                };
                let fetch = self.cache.try_fetch_served(
                    LOCATORS[locator],
                    version,
                    opts.fetch_options(force_sync),
                    generate,
                );
                let result = bounded("fetch", AssertUnwindSafe(fetch).catch_unwind()).await?;
                // A stale read's refresh runs to its end before anything else happens.
                bounded("wait_for_refreshes", self.cache.wait_for_refreshes()).await?;
                Ok(match result {
                    Err(_panic) => Obs::Panic,
                    Ok(Err(error)) => {
                        if error != format!("planned error #{id}") {
                            return Err(format!("an error not its own: {error}"));
                        }
                        Obs::Err
                    }
                    Ok(Ok((value, served))) => {
                        let Some(&(of, made_at)) = self.made_for.get(value as usize) else {
                            return Err(format!("a value no one made: {value}"));
                        };
                        if of != locator {
                            return Err(format!("a value made for {}", LOCATORS[of]));
                        }
                        // Contract §1 and §2.11, before the model's word: a hit, or a
                        // value generated for the caller, is of at least its version
                        // (only a stale or fail-safe answer may be older).
                        let current = matches!(served, Served::Hit | Served::Miss | Served::Sync);
                        if current && made_at < version {
                            return Err(format!(
                                "{served:?} of a value made for version {made_at} < {version}"
                            ));
                        }
                        match served {
                            Served::Hit => Obs::Hit(value),
                            Served::Stale => Obs::Stale(value),
                            Served::Miss => Obs::Miss(value),
                            Served::Sync => Obs::Sync(value),
                            Served::FailSafe => Obs::FailSafe(value),
                        }
                    }
                })
            }
            Op::Put {
                locator,
                version,
                opts,
            } => {
                self.made_for.push((locator, version));
                let options = opts.fetch_options(false);
                let put = self.cache.put_with(LOCATORS[locator], version, options, id);
                Ok(Obs::Put(bounded("put", put).await?))
            }
            Op::Expire(l) => {
                bounded("expire", self.cache.expire(LOCATORS[l])).await?;
                Ok(Obs::Done)
            }
            Op::Invalidate(l) => {
                bounded("invalidate", self.cache.invalidate(LOCATORS[l])).await?;
                Ok(Obs::Done)
            }
            Op::InvalidateAll => {
                self.cache.invalidate_all();
                Ok(Obs::Done)
            }
            Op::Advance(d) => {
                tokio::time::advance(ms(d)).await;
                Ok(Obs::Done)
            }
        }
    }

    async fn step(&mut self, op: &Op) -> Result<(), String> {
        self.log.push(format!("t={}ms {op:?}", self.model.now));
        let id = self.made_for.len() as u64;
        let seen = match self.run(op).await {
            Ok(seen) => seen,
            Err(why) => return Err(self.fail(why)),
        };
        let (expected, runs) = self.model.step(op, id);
        if seen != expected {
            return Err(self.fail(format!("observed {seen:?}, the model says {expected:?}")));
        }
        let ran = self.ran.take();
        let expected_runs: BTreeSet<u64> = runs.into_iter().collect();
        if ran != expected_runs {
            return Err(self.fail(format!(
                "generators run: {ran:?}, the model says {expected_runs:?}"
            )));
        }
        let counts = Counts::of(&self.cache.stats());
        if counts != self.model.counts {
            return Err(self.fail(format!(
                "counters {counts:?}, the model says {:?}",
                self.model.counts
            )));
        }
        let stats = self.cache.stats();
        if stats.refreshes_dropped + stats.soft_timeouts + stats.store_errors != 0 {
            return Err(self.fail("nothing dropped, no soft timeout, no store error".into()));
        }
        // No operation let the paused clock jump on its own.
        let elapsed = self.start.elapsed();
        if elapsed != ms(self.model.now) {
            return Err(self.fail(format!(
                "the clock moved by itself: {elapsed:?} for the model's {}ms",
                self.model.now
            )));
        }
        Ok(())
    }
}

async fn bounded<F: std::future::Future>(what: &str, future: F) -> Result<F::Output, String> {
    tokio::time::timeout(HANG, future)
        .await
        .map_err(|_| format!("{what}: still pending (under paused time: waiting on nothing)"))
}

/// Runs the sequence of `seed`: its config and `len` operations.
fn run_seed(seed: u64, len: usize) -> Result<(), String> {
    quiet_planned_panics();
    let mut rng = Rng::new(seed);
    let config = Config::draw(&mut rng);
    let ops: Vec<Op> = (0..len).map(|_| draw_op(&mut rng)).collect();
    run_ops(seed, config, &ops)
}

fn run_ops(seed: u64, config: Config, ops: &[Op]) -> Result<(), String> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .expect("a current-thread runtime");
    runtime.block_on(async {
        let mut case = Case {
            seed,
            config,
            cache: config.build(),
            model: Model::new(config),
            ran: Ran::default(),
            made_for: Vec::new(),
            log: Vec::new(),
            start: tokio::time::Instant::now(),
        };
        for op in ops {
            case.step(op).await?;
        }
        Ok(())
    })
}

fn env(name: &str) -> Option<u64> {
    std::env::var(name).ok().and_then(|v| v.parse().ok())
}

/// Every observation of the real cache is the model's, after every step of each
/// seeded sequence.
#[test]
fn the_cache_follows_the_time_model() {
    let seeds = match env("MODEL_TIME_SEED") {
        Some(seed) => seed..seed + 1,
        None => 0..env("MODEL_TIME_CASES").unwrap_or(400),
    };
    for seed in seeds {
        if let Err(why) = run_seed(seed, 80) {
            panic!("{why}");
        }
    }
}

fn fetch(locator: usize, version: u32, opts: Opts, kind: Kind) -> Op {
    Op::Fetch {
        locator,
        version,
        opts,
        force_sync: false,
        kind,
    }
}

/// The model itself, on hand-written sequences: it must accept the contract's own
/// examples (boundaries, fail-safe, throttle, `put`, `expire`) and reject a wrong
/// observation, or it checks nothing.
#[test]
fn the_model_accepts_the_contracts_examples_and_rejects_a_downgrade() {
    let config = Config {
        worker: true,
        defaults: Opts::default(),
        throttle: 3_000,
        backoff: None,
    };
    let timed = Opts {
        refresh_after: Some(1_000),
        expires_in: Some(3_000),
        fail_safe: Some(2_000),
    };
    let ops = [
        fetch(0, 1, timed, Kind::Ok),
        Op::Advance(999),
        fetch(0, 1, timed, Kind::Ok), // just below refresh_after: a hit
        Op::Advance(1),
        fetch(0, 1, timed, Kind::Ok), // at it: stale, refreshed
        Op::Advance(3_000),
        fetch(0, 1, timed, Kind::Err), // expired: its failure gets the fallback
        fetch(0, 1, timed, Kind::Ok),  // throttled: the fallback, no generator
        Op::Put {
            locator: 0,
            version: 1,
            opts: Opts::default(),
        },
        fetch(0, 1, Opts::default(), Kind::Ok), // the put closed the throttle
        Op::Expire(0),
        fetch(0, 0, Opts::default(), Kind::Ok), // marked: stale, an older refresh discarded
        fetch(0, 1, Opts::default(), Kind::Ok), // still marked: refreshed at its version
        fetch(0, 1, Opts::default(), Kind::Ok), // a hit
        Op::Put {
            locator: 0,
            version: 0,
            opts: Opts::default(),
        },
    ];
    run_ops(u64::MAX, config, &ops).unwrap();
    let mut model = Model::new(config);
    let seen: Vec<Obs> = ops
        .iter()
        .enumerate()
        .map(|(id, op)| model.step(op, id as u64).0)
        .collect();
    use Obs::*;
    assert_eq!(
        seen,
        [
            Miss(0),
            Done,
            Hit(0),
            Done,
            Stale(0),
            Done,
            FailSafe(4),
            FailSafe(4),
            Put(true),
            Hit(8),
            Done,
            Stale(8),
            Stale(8),
            Hit(12),
            Put(false),
        ]
    );
    // Shown a downgrade (the put's older version served as a hit), the run fails.
    let mut case_model = Model::new(config);
    for (id, op) in ops.iter().enumerate() {
        case_model.step(op, id as u64);
    }
    let (expected, _) = case_model.step(&fetch(0, 0, Opts::default(), Kind::Ok), 15);
    assert_eq!(expected, Hit(12));
    assert_ne!(expected, Hit(14), "the refused put's value is not stored");
}
