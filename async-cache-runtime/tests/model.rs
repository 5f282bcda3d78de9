//! The contract's §1 and §2 (crate docs) as a reference model, checked against the
//! real `Cache` on proptest-generated operation sequences.
//!
//! The model is a sequential state machine per locator: what the store holds (version,
//! which generation made it, whether it may expire), the one background refresh
//! that may be in flight (its version, generator, outcome, whether an invalidation
//! voided it) and the trailing refresh kept beside it (contract §6.5: the newest
//! version a stale read asked while it ran, run once it ends). Background refreshes run on their own schedule and short-TTL entries
//! expire whenever the clock says, so the model keeps the *set* of states the cache may
//! be in, closed under those spontaneous steps (a refresh lands or is discarded, a TTL
//! entry expires), and each observation narrows it: a fetch's value and the way it was
//! served must be explained by at least one possible state. An empty set is a
//! contradiction with the contract, reported with the operations so far; proptest then
//! shrinks the sequence to a minimal one.
//!
//! Every operation runs on a current-thread runtime, so a case replays the same way
//! when it shrinks; refreshes run whenever the test task yields (slow generators,
//! `Yield`, waiting, sleeping).

mod common;

use std::collections::{BTreeSet, HashMap};
use std::panic::AssertUnwindSafe;
use std::time::Duration;

use async_cache_runtime::{Cache, FetchOptions, Served, Stats};
use common::{parse_provenance, provenance, quiet_planned_panics};
use futures_util::FutureExt;
use proptest::prelude::*;

const LOCATORS: [&str; 3] = ["a", "b", "c"];
/// The expiry of fetches that ask for one. Short: the model lets such an entry vanish
/// at any moment, and only `PastTtl` (a sleep of several TTLs) makes it certain.
const TTL: Duration = Duration::from_millis(15);
const PAST_TTL: Duration = Duration::from_millis(50);
/// A hang guard, not a timing assertion: nothing here takes more than milliseconds.
const HANG: Duration = Duration::from_secs(20);

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
enum Kind {
    /// Returns `Ok` at once.
    Ok,
    /// Yields to the scheduler this many times, then returns `Ok`.
    Slow(u8),
    /// Returns `Err` (`try_fetch`).
    Err,
    /// Panics.
    Panic,
}

impl Kind {
    fn succeeds(self) -> bool {
        matches!(self, Kind::Ok | Kind::Slow(_))
    }
}

#[derive(Clone, Debug)]
enum Op {
    Fetch {
        locator: usize,
        version: u32,
        force_sync: bool,
        ttl: bool,
        kind: Kind,
    },
    Invalidate(usize),
    InvalidateAll,
    WaitForRefreshes,
    /// Waits for refreshes, then sleeps past every TTL.
    PastTtl,
    /// Lets background refreshes run a step.
    Yield,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Config {
    /// Default worker: nothing is ever dropped with three locators.
    Roomy,
    /// One refresh at a time and no queue: stale reads may drop their refresh.
    Tight,
    /// `refresh_concurrency(0)`: outdated entries are regenerated in the caller.
    NoWorker,
}

impl Config {
    fn build(self) -> Cache {
        let builder = Cache::builder().max_capacity(1_000);
        match self {
            Config::Roomy => builder,
            Config::Tight => builder.refresh_concurrency(1).refresh_queue_capacity(0),
            Config::NoWorker => builder.refresh_concurrency(0),
        }
        .build()
    }
}

// --- the model -------------------------------------------------------------------

#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
struct Entry {
    version: u32,
    generation: u64,
    ttl: bool,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
struct Refresh {
    version: u32,
    generation: u64,
    kind: Kind,
    ttl: bool,
    /// No invalidation since it was claimed: it may still store its result.
    valid: bool,
    /// Its generator is done (it wrote or not); the claim is not yet released.
    finished: bool,
    /// The newest version a stale read asked while it was in flight, if newer than
    /// its own: refreshed once it is released (landed or failed: no back-off here).
    trailing: Option<Trailing>,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
struct Trailing {
    version: u32,
    generation: u64,
    kind: Kind,
    ttl: bool,
    /// No invalidation since the read that asked for it: it may still run.
    valid: bool,
}

impl Trailing {
    fn refresh(&self) -> Refresh {
        Refresh {
            version: self.version,
            generation: self.generation,
            kind: self.kind,
            ttl: self.ttl,
            valid: true,
            finished: false,
            trailing: None,
        }
    }
}

/// One possible state of one locator.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
struct Loc {
    stored: Option<Entry>,
    refresh: Option<Refresh>,
}

type States = BTreeSet<Loc>;

/// What a fetch was seen to do: how it was served and which generation's value it
/// returned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Obs {
    Hit(u64),
    Stale(u64),
    Miss(u64),
    Sync(u64),
    Err,
    Panic,
}

struct FetchCall {
    version: u32,
    force_sync: bool,
    ttl: bool,
    kind: Kind,
    generation: u64,
}

/// The no-downgrade rule: whether a write of `version` lands on `stored`.
fn lands(stored: &Option<Entry>, version: u32) -> bool {
    stored.as_ref().is_none_or(|e| e.version < version)
}

/// The ways the in-flight refresh of `s` may finish (`finished` set), with or without
/// a write.
fn finish(s: &Loc) -> Vec<Loc> {
    let Some(r) = s.refresh.as_ref().filter(|r| !r.finished) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    let done = Refresh {
        finished: true,
        ..r.clone()
    };
    let may_write = r.kind.succeeds() && r.valid;
    if may_write && lands(&s.stored, r.version) {
        out.push(Loc {
            stored: Some(Entry {
                version: r.version,
                generation: r.generation,
                ttl: r.ttl,
            }),
            refresh: Some(done.clone()),
        });
    }
    // Without a write: it failed, was voided, found itself superseded, or found
    // nothing stored (an expired entry) when it began.
    let must_write = may_write && s.stored.as_ref().is_some_and(|e| e.version < r.version);
    if !must_write {
        out.push(Loc {
            stored: s.stored.clone(),
            refresh: Some(done),
        });
    }
    out
}

/// The state once the finished refresh of `s` releases its claim: its trailing
/// refresh (if any, and not voided) takes its place in the worker; `covering`, the
/// version a generation in the caller is making meanwhile, may cover it instead.
fn release(s: &Loc, covering: Option<u32>) -> Vec<Loc> {
    let trailing = s
        .refresh
        .as_ref()
        .and_then(|r| r.trailing.as_ref())
        .filter(|t| t.valid);
    let mut out = vec![Loc {
        stored: s.stored.clone(),
        refresh: trailing.map(Trailing::refresh),
    }];
    if trailing.is_some_and(|t| covering.is_some_and(|v| v >= t.version)) {
        out.push(Loc {
            stored: s.stored.clone(),
            refresh: None,
        });
    }
    out
}

/// Every state reachable without an operation: refreshes finish and release their
/// claim, entries with a TTL expire.
fn close(states: States) -> States {
    close_covered(states, None)
}

/// [`close`] while a generation in the caller makes `covering`, which a trailing
/// refresh of that version or older finds in flight when it claims the locator.
fn close_covered(states: States, covering: Option<u32>) -> States {
    let mut all = states.clone();
    let mut todo: Vec<Loc> = states.into_iter().collect();
    while let Some(s) = todo.pop() {
        let mut next = finish(&s);
        if s.stored.as_ref().is_some_and(|e| e.ttl) {
            next.push(Loc {
                stored: None,
                refresh: s.refresh.clone(),
            });
        }
        if s.refresh.as_ref().is_some_and(|r| r.finished) {
            next.extend(release(&s, covering));
        }
        for n in next {
            if all.insert(n.clone()) {
                todo.push(n);
            }
        }
    }
    all
}

/// What a fetch may observe from state `s` (as its store read finds it), and the
/// state it leaves (before spontaneous steps).
fn outcomes(s: &Loc, call: &FetchCall, config: Config, retried: bool, out: &mut Vec<(Obs, Loc)>) {
    let worker = config != Config::NoWorker;
    match &s.stored {
        Some(e) if e.version >= call.version => out.push((Obs::Hit(e.generation), s.clone())),
        Some(e) if worker && !call.force_sync => {
            if s.refresh.is_none() {
                let mut scheduled = s.clone();
                scheduled.refresh = Some(Refresh {
                    version: call.version,
                    generation: call.generation,
                    kind: call.kind,
                    ttl: call.ttl,
                    valid: true,
                    finished: false,
                    trailing: None,
                });
                out.push((Obs::Stale(e.generation), scheduled));
                if config == Config::Tight {
                    // Another locator's refresh holds the one place: dropped.
                    out.push((Obs::Stale(e.generation), s.clone()));
                }
            } else {
                // Deduplicated: the refresh in flight covers it, or it trails that
                // refresh if it asks a newer version than it and than any kept.
                let mut kept = s.clone();
                let r = kept.refresh.as_mut().expect("in flight");
                let newer = r.version < call.version
                    && r.trailing
                        .as_ref()
                        .is_none_or(|t| !t.valid || t.version < call.version);
                if newer {
                    r.trailing = Some(Trailing {
                        version: call.version,
                        generation: call.generation,
                        kind: call.kind,
                        ttl: call.ttl,
                        valid: true,
                    });
                }
                out.push((Obs::Stale(e.generation), kept));
            }
        }
        _ => {
            let sync = s.stored.is_some();
            let served = |generation| {
                if sync {
                    Obs::Sync(generation)
                } else {
                    Obs::Miss(generation)
                }
            };
            // Join a refresh in flight of the same or a newer version.
            if let Some(r) = s.refresh.as_ref().filter(|r| r.version >= call.version) {
                if r.kind.succeeds() {
                    let finished = if r.finished {
                        vec![s.clone()]
                    } else {
                        finish(s)
                    };
                    for t in finished {
                        out.push((served(r.generation), t));
                    }
                }
                if !retried {
                    // It failed or skipped its generator: the caller decides again.
                    let mut ended = s.clone();
                    if let Some(r) = &mut ended.refresh {
                        r.finished = true;
                    }
                    for t in close(release(&ended, None).into_iter().collect()) {
                        outcomes(&t, call, config, true, out);
                    }
                }
            }
            match call.kind {
                Kind::Ok | Kind::Slow(_) => {
                    // Its write lands atomically, whatever happened since the read.
                    for mut t in close_covered([s.clone()].into(), Some(call.version)) {
                        if lands(&t.stored, call.version) {
                            t.stored = Some(Entry {
                                version: call.version,
                                generation: call.generation,
                                ttl: call.ttl,
                            });
                        }
                        out.push((served(call.generation), t));
                    }
                }
                Kind::Err => out.push((Obs::Err, s.clone())),
                Kind::Panic => out.push((Obs::Panic, s.clone())),
            }
        }
    }
}

// --- running a case ------------------------------------------------------------

#[derive(Default, Debug)]
struct Seen {
    hit: u64,
    stale: u64,
    miss: u64,
    sync: u64,
    err: u64,
    panic: u64,
    /// Stale reads whose generator would fail if it ran as the refresh.
    stale_failing: u64,
}

struct Case {
    config: Config,
    cache: Cache,
    states: Vec<States>,
    /// Generation -> (locator, version) it was made for.
    made_for: HashMap<u64, (usize, u32)>,
    next_generation: u64,
    seen: Seen,
    /// The highest version a hit or stale hit showed stored, per locator, since the
    /// last invalidation; `None` while an entry with a TTL may have been written.
    floor: Vec<Option<u32>>,
    ttl_written: Vec<bool>,
    log: Vec<String>,
}

impl Case {
    fn new(config: Config) -> Self {
        let empty = Loc {
            stored: None,
            refresh: None,
        };
        Case {
            config,
            cache: config.build(),
            states: vec![[empty].into(); LOCATORS.len()],
            made_for: HashMap::new(),
            next_generation: 0,
            seen: Seen::default(),
            floor: vec![None; LOCATORS.len()],
            ttl_written: vec![false; LOCATORS.len()],
            log: Vec::new(),
        }
    }

    fn fail(&self, why: String) -> Result<(), String> {
        Err(format!(
            "{why}\nconfig: {:?}\noperations:\n  {}\nstats: {:?}",
            self.config,
            self.log.join("\n  "),
            self.cache.stats()
        ))
    }

    async fn step(&mut self, op: &Op) -> Result<(), String> {
        self.log.push(format!("{op:?}"));
        match *op {
            Op::Fetch {
                locator,
                version,
                force_sync,
                ttl,
                kind,
            } => self.fetch(locator, version, force_sync, ttl, kind).await?,
            Op::Invalidate(locator) => {
                bounded("invalidate", self.cache.invalidate(LOCATORS[locator])).await?;
                self.invalidated(locator);
            }
            Op::InvalidateAll => {
                self.cache.invalidate_all();
                (0..LOCATORS.len()).for_each(|l| self.invalidated(l));
            }
            Op::WaitForRefreshes => self.wait().await?,
            Op::PastTtl => {
                self.wait().await?;
                tokio::time::sleep(PAST_TTL).await;
                for l in 0..LOCATORS.len() {
                    let states = std::mem::take(&mut self.states[l]);
                    self.states[l] = states
                        .into_iter()
                        .map(|mut s| {
                            if s.stored.as_ref().is_some_and(|e| e.ttl) {
                                s.stored = None;
                            }
                            s
                        })
                        .collect();
                    self.floor[l] = None;
                    self.ttl_written[l] = false;
                }
            }
            Op::Yield => {
                for _ in 0..3 {
                    tokio::task::yield_now().await;
                }
            }
        }
        self.check_stats(matches!(op, Op::WaitForRefreshes | Op::PastTtl))
    }

    fn invalidated(&mut self, locator: usize) {
        let states = std::mem::take(&mut self.states[locator]);
        self.states[locator] = close(
            states
                .into_iter()
                .map(|mut s| {
                    s.stored = None;
                    if let Some(r) = &mut s.refresh {
                        r.valid = false;
                        if let Some(t) = &mut r.trailing {
                            t.valid = false;
                        }
                    }
                    s
                })
                .collect(),
        );
        self.floor[locator] = None;
    }

    async fn wait(&mut self) -> Result<(), String> {
        bounded("wait_for_refreshes", self.cache.wait_for_refreshes()).await?;
        for (l, name) in LOCATORS.iter().enumerate() {
            let states = std::mem::take(&mut self.states[l]);
            self.states[l] = states.into_iter().filter(|s| s.refresh.is_none()).collect();
            if self.states[l].is_empty() {
                return self.fail(format!(
                    "{name}: no state of the model has its refreshes done"
                ));
            }
        }
        Ok(())
    }

    async fn fetch(
        &mut self,
        locator: usize,
        version: u32,
        force_sync: bool,
        ttl: bool,
        kind: Kind,
    ) -> Result<(), String> {
        let name = LOCATORS[locator];
        let generation = self.next_generation;
        self.next_generation += 1;
        self.made_for.insert(generation, (locator, version));
        if ttl {
            self.ttl_written[locator] = true;
            self.floor[locator] = None;
        }
        let value = provenance(name, version, generation);
        let generate = move || async move {
            match kind {
                Kind::Ok => {}
                Kind::Slow(n) => {
                    for _ in 0..n {
                        tokio::task::yield_now().await;
                    }
                }
                Kind::Err => return Err(format!("planned error #{generation}")),
                Kind::Panic => panic!("planned panic #{generation}"),
            }
            Ok::<String, String>(value)
        };
        let mut options = FetchOptions::new().force_sync(force_sync);
        if ttl {
            options = options.expires_in(TTL);
        }
        let fetch = self
            .cache
            .try_fetch_served(name, version, options, generate);
        let result = bounded("fetch", AssertUnwindSafe(fetch).catch_unwind()).await?;
        let obs = match result {
            Err(_panic) => Obs::Panic,
            Ok(Err(error)) => {
                if error != format!("planned error #{generation}") {
                    return self.fail(format!("{name}: an error not its own: {error}"));
                }
                Obs::Err
            }
            Ok(Ok((value, served))) => {
                let Some((of, made_at, made_by)) = parse_provenance(&value) else {
                    return self.fail(format!("{name}: unrecognisable value {value:?}"));
                };
                // Every value belongs to its own locator, made for the version it says.
                if of != name || self.made_for.get(&made_by) != Some(&(locator, made_at)) {
                    return self.fail(format!("{name}: returned {value:?}, made elsewhere"));
                }
                // The version it was made for is one that the way it was served allows.
                let allowed = match served {
                    Served::Hit | Served::Miss | Served::Sync => made_at >= version,
                    Served::Stale => made_at < version,
                    Served::FailSafe => {
                        return self.fail(format!("{name}: a fallback, with no fail-safe set"));
                    }
                };
                if !allowed {
                    return self.fail(format!(
                        "{name}@{version}: {served:?} returned a value made for version {made_at}"
                    ));
                }
                if matches!(served, Served::Hit | Served::Stale) && !self.ttl_written[locator] {
                    // Stored versions never go down except through invalidation or expiry.
                    if let Some(floor) = self.floor[locator] {
                        if made_at < floor {
                            return self.fail(format!(
                                "{name}: stored version went down from {floor} to {made_at}"
                            ));
                        }
                    }
                    self.floor[locator] = self.floor[locator].max(Some(made_at));
                }
                match served {
                    Served::Hit => Obs::Hit(made_by),
                    Served::Stale => Obs::Stale(made_by),
                    Served::Miss => Obs::Miss(made_by),
                    Served::Sync => Obs::Sync(made_by),
                    Served::FailSafe => unreachable!("refused above"),
                }
            }
        };
        match obs {
            Obs::Hit(_) => self.seen.hit += 1,
            Obs::Stale(_) => {
                self.seen.stale += 1;
                if !kind.succeeds() {
                    self.seen.stale_failing += 1;
                }
            }
            Obs::Miss(_) => self.seen.miss += 1,
            Obs::Sync(_) => self.seen.sync += 1,
            Obs::Err => self.seen.err += 1,
            Obs::Panic => self.seen.panic += 1,
        }
        let call = FetchCall {
            version,
            force_sync,
            ttl,
            kind,
            generation,
        };
        let mut next = States::new();
        for s in &self.states[locator] {
            let mut possible = Vec::new();
            outcomes(s, &call, self.config, false, &mut possible);
            next.extend(
                possible
                    .into_iter()
                    .filter(|(o, _)| *o == obs)
                    .map(|(_, t)| t),
            );
        }
        if next.is_empty() {
            let states = &self.states[locator];
            return self.fail(format!(
                "{name}@{version}: observed {obs:?}, which no state of the model explains; \
                 possible states were {states:?}"
            ));
        }
        self.states[locator] = close(next);
        Ok(())
    }

    fn check_stats(&self, idle: bool) -> Result<(), String> {
        let s: Stats = self.cache.stats();
        let seen = &self.seen;
        let mut broken = Vec::new();
        if s.hits != seen.hit || s.stale_hits != seen.stale {
            broken.push("hits and stale hits are those observed");
        }
        // A fetch that returned `Err` completed too: it counts as a miss or a sync
        // refresh. One that panicked did not complete.
        if s.misses + s.sync_refreshes != seen.miss + seen.sync + seen.err
            || s.misses < seen.miss
            || s.sync_refreshes < seen.sync
        {
            broken.push("misses and sync refreshes are those observed, errors included");
        }
        if s.refreshes_started + s.refreshes_dropped > seen.stale {
            broken.push("at most one refresh per stale hit");
        }
        if s.refreshes_completed + s.refreshes_failed + s.refreshes_elsewhere > s.refreshes_started
        {
            broken.push("refreshes end after they start");
        }
        if s.refreshes_failed > seen.stale_failing {
            broken.push("only failing generators fail refreshes");
        }
        if idle
            && s.refreshes_started
                != s.refreshes_completed + s.refreshes_failed + s.refreshes_elsewhere
        {
            broken.push("once idle, every refresh started completed or failed");
        }
        if self.config != Config::Tight && s.refreshes_dropped != 0 {
            broken.push("nothing dropped with room in the worker");
        }
        if self.config == Config::NoWorker && (s.stale_hits != 0 || s.refreshes_started != 0) {
            broken.push("no worker: nothing served stale, nothing refreshed");
        }
        if s.store_errors != 0 || s.refreshes_elsewhere != 0 {
            broken.push("no store errors and no other process in memory");
        }
        if broken.is_empty() {
            Ok(())
        } else {
            self.fail(format!("stats: {broken:?}; seen {seen:?}"))
        }
    }
}

async fn bounded<F: std::future::Future>(what: &str, future: F) -> Result<F::Output, String> {
    tokio::time::timeout(HANG, future)
        .await
        .map_err(|_| format!("{what}: still pending after {HANG:?}"))
}

fn run_case(config: Config, ops: &[Op]) -> Result<(), String> {
    quiet_planned_panics();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .expect("a current-thread runtime");
    runtime.block_on(async {
        let mut case = Case::new(config);
        for op in ops {
            case.step(op).await?;
        }
        // Every refresh ends, and the model agrees on where it leaves the store.
        case.step(&Op::WaitForRefreshes).await?;
        for l in 0..LOCATORS.len() {
            case.step(&Op::Fetch {
                locator: l,
                version: 0,
                force_sync: false,
                ttl: false,
                kind: Kind::Ok,
            })
            .await?;
        }
        Ok(())
    })
}

// --- generated sequences -------------------------------------------------------

fn kind() -> impl Strategy<Value = Kind> {
    prop_oneof![
        6 => Just(Kind::Ok),
        2 => (1_u8..4).prop_map(Kind::Slow),
        1 => Just(Kind::Err),
        1 => Just(Kind::Panic),
    ]
}

fn op() -> impl Strategy<Value = Op> {
    let fetch = (
        0..LOCATORS.len(),
        0_u32..6,
        prop::bool::weighted(0.2),
        prop::bool::weighted(0.15),
        kind(),
    )
        .prop_map(|(locator, version, force_sync, ttl, kind)| Op::Fetch {
            locator,
            version,
            force_sync,
            ttl,
            kind,
        });
    prop_oneof![
        70 => fetch,
        5 => (0..LOCATORS.len()).prop_map(Op::Invalidate),
        2 => Just(Op::InvalidateAll),
        8 => Just(Op::WaitForRefreshes),
        2 => Just(Op::PastTtl),
        10 => Just(Op::Yield),
    ]
}

fn config() -> impl Strategy<Value = Config> {
    prop_oneof![
        3 => Just(Config::Roomy),
        1 => Just(Config::Tight),
        1 => Just(Config::NoWorker),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 128,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    /// Every observation of the real cache is one the model allows, and the stats add
    /// up, after every step of a generated sequence.
    #[test]
    fn the_cache_follows_the_model(config in config(), ops in prop::collection::vec(op(), 1..48)) {
        if let Err(why) = run_case(config, &ops) {
            prop_assert!(false, "{}", why);
        }
    }
}

/// The model itself, on a hand-written sequence: it must accept the contract's examples
/// and reject a downgrade, or it checks nothing.
#[test]
fn the_model_accepts_the_spec_and_rejects_a_downgrade() {
    let fetch = |locator, version, kind| Op::Fetch {
        locator,
        version,
        force_sync: false,
        ttl: false,
        kind,
    };
    let ops = [
        fetch(0, 1, Kind::Ok),
        fetch(0, 1, Kind::Ok),
        fetch(0, 2, Kind::Slow(2)),
        Op::Yield,
        fetch(0, 3, Kind::Err),
        Op::WaitForRefreshes,
        fetch(0, 2, Kind::Ok),
        Op::Fetch {
            locator: 0,
            version: 4,
            force_sync: true,
            ttl: false,
            kind: Kind::Ok,
        },
        Op::Invalidate(0),
        fetch(0, 1, Kind::Panic),
        fetch(0, 1, Kind::Ok),
    ];
    for config in [Config::Roomy, Config::Tight, Config::NoWorker] {
        run_case(config, &ops).unwrap();
    }

    // A model state holding version 3, shown version 2 as a hit: no explanation.
    let s = Loc {
        stored: Some(Entry {
            version: 3,
            generation: 7,
            ttl: false,
        }),
        refresh: None,
    };
    let call = FetchCall {
        version: 2,
        force_sync: false,
        ttl: false,
        kind: Kind::Ok,
        generation: 8,
    };
    let mut out = Vec::new();
    outcomes(&s, &call, Config::Roomy, false, &mut out);
    assert_eq!(out, vec![(Obs::Hit(7), s.clone())]);
    // A refresh of version 2 may not land on version 3.
    let mut with_refresh = s.clone();
    with_refresh.refresh = Some(Refresh {
        version: 2,
        generation: 9,
        kind: Kind::Ok,
        ttl: false,
        valid: true,
        finished: false,
        trailing: None,
    });
    assert!(finish(&with_refresh).iter().all(|t| t.stored == s.stored));
}
