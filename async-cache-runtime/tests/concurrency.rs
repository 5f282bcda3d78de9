//! The model's operations from many tasks at once.
//!
//! - `many_tasks_on_a_multi_thread_runtime`: real parallelism; every result is checked
//!   on its own (provenance, version allowed by how it was served), stored versions
//!   seen by hits never go down between invalidations, at most one background
//!   generator runs per locator, and the stats add up at the end.
//! - `randomized_schedules_of_the_claim_logic`: many seeds, each a deterministic
//!   schedule on a current-thread runtime where generators yield a seed-chosen number
//!   of times and callers are cancelled after a seed-chosen number of polls. An event
//!   log of generator calls, first polls and ends gives, for every schedule, the
//!   coalescing claim (no caller runs a generation while one it could join runs) and
//!   the deduplication claim (one background generation per locator at a time).
//!   `loom`/`shuttle` would need the runtime's own locks and atomics abstracted, which
//!   these tests may not change; randomized yields over many seeds explore the
//!   interleavings of the claim logic at every await point instead, and a failing seed
//!   replays exactly.

mod common;

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use async_cache_runtime::{Cache, FetchOptions, Served, Stats};
use common::{parse_provenance, provenance, quiet_planned_panics, within};
use futures_util::FutureExt;
use test_support::Rng;

#[derive(Clone, Copy, Debug)]
enum Kind {
    Ok,
    Err,
    Panic,
}

#[derive(Clone, Copy, Debug)]
enum Event {
    /// A generator was called (its caller claimed a generation or a refresh).
    Call {
        generation: u64,
        locator: usize,
        version: u32,
    },
    /// Its future was first polled.
    Poll { generation: u64 },
    /// Its future completed or was dropped.
    End { generation: u64 },
    /// How the fetch that made it was served (`None`: error, panic or cancelled).
    Served {
        generation: u64,
        served: Option<Served>,
    },
    /// A locator (`None`: every one) was invalidated: what ran before it may no longer
    /// be joined.
    Invalidated { locator: Option<usize> },
}

/// What every task shares: the cache, the versions of the things it caches, the
/// invariant state and the event log.
struct World {
    cache: Cache,
    locators: Vec<String>,
    versions: Vec<AtomicU32>,
    /// Per locator: invalidation epoch (high half, odd while one runs) and the highest
    /// version a hit or stale hit has shown stored in that epoch (low half).
    floors: Vec<AtomicU64>,
    invalidating: tokio::sync::Mutex<()>,
    /// Background generators running, per locator.
    background: Vec<AtomicUsize>,
    next_generation: AtomicU64,
    violations: Mutex<Vec<String>>,
    events: Mutex<Vec<Event>>,
    completed: AtomicU64,
    stale_failing: AtomicU64,
    overlapping_refreshes: AtomicBool,
}

impl World {
    fn new(cache: Cache, locators: usize) -> Arc<Self> {
        Arc::new(World {
            cache,
            locators: (0..locators).map(|l| format!("thing/{l}")).collect(),
            versions: (0..locators).map(|_| AtomicU32::new(1)).collect(),
            floors: (0..locators).map(|_| AtomicU64::new(0)).collect(),
            invalidating: tokio::sync::Mutex::new(()),
            background: (0..locators).map(|_| AtomicUsize::new(0)).collect(),
            next_generation: AtomicU64::new(0),
            violations: Mutex::default(),
            events: Mutex::default(),
            completed: AtomicU64::new(0),
            stale_failing: AtomicU64::new(0),
            overlapping_refreshes: AtomicBool::new(false),
        })
    }

    fn violation(&self, what: String) {
        self.violations.lock().unwrap().push(what);
    }

    fn log(&self, event: Event) {
        self.events.lock().unwrap().push(event);
    }

    fn bump_epoch(&self, locator: usize) {
        let _ = self.floors[locator].fetch_update(SeqCst, SeqCst, |p| Some(((p >> 32) + 1) << 32));
    }

    async fn invalidate(&self, locator: Option<usize>) {
        let _one_at_a_time = self.invalidating.lock().await;
        let all: Vec<usize> = match locator {
            Some(l) => vec![l],
            None => (0..self.locators.len()).collect(),
        };
        all.iter().for_each(|&l| self.bump_epoch(l));
        self.log(Event::Invalidated { locator });
        match locator {
            Some(l) => self.cache.invalidate(&self.locators[l]).await,
            None => self.cache.invalidate_all(),
        }
        all.iter().for_each(|&l| self.bump_epoch(l));
    }

    /// One fetch of `locator` at its current version (or a lagging one), checked.
    /// `wrap` may cancel it (returns `None`).
    async fn fetch<W, Fut>(self: &Arc<Self>, rng: &mut Rng, locator: usize, yields: u64, wrap: W)
    where
        W: FnOnce(Pin<Box<dyn Future<Output = FetchResult> + Send>>) -> Fut,
        Fut: Future<Output = Option<FetchResult>>,
    {
        if rng.chance(5) {
            self.versions[locator].fetch_add(1, SeqCst);
        }
        let current = self.versions[locator].load(SeqCst);
        let version = current.saturating_sub(rng.below(3) as u32);
        let kind = match rng.below(100) {
            0..=4 => Kind::Err,
            5..=7 => Kind::Panic,
            _ => Kind::Ok,
        };
        let force_sync = rng.chance(10);
        let generation = self.next_generation.fetch_add(1, SeqCst);
        let name = self.locators[locator].clone();
        let value = provenance(&name, version, generation);
        let world = self.clone();
        let caller = tokio::task::try_id();
        let generate = move || {
            world.log(Event::Call {
                generation,
                locator,
                version,
            });
            let guard = EndGuard {
                world: world.clone(),
                generation,
                locator,
                background: false,
            };
            async move {
                let mut guard = guard;
                world.log(Event::Poll { generation });
                if tokio::task::try_id() != caller {
                    // Polled by another task than its caller's: a background refresh.
                    guard.background = true;
                    if world.background[locator].fetch_add(1, SeqCst) > 0 {
                        world.overlapping_refreshes.store(true, SeqCst);
                    }
                }
                for _ in 0..yields {
                    tokio::task::yield_now().await;
                }
                match kind {
                    Kind::Ok => Ok(value),
                    Kind::Err => Err(format!("planned error #{generation}")),
                    Kind::Panic => panic!("planned panic #{generation}"),
                }
            }
        };
        let floor_before = self.floors[locator].load(SeqCst);
        let options = FetchOptions::new().force_sync(force_sync);
        let cache = self.cache.clone();
        let fetch: Pin<Box<dyn Future<Output = FetchResult> + Send>> = Box::pin(async move {
            AssertUnwindSafe(cache.try_fetch_served(name, version, options, generate))
                .catch_unwind()
                .await
                .map_err(|_| ())
        });
        let outcome = wrap(fetch).await;
        let served = match outcome {
            None => None,
            Some(Err(())) => None, // panicked: did not complete
            Some(Ok(Err(error))) => {
                self.completed.fetch_add(1, SeqCst);
                if error != format!("planned error #{generation}") {
                    self.violation(format!("{locator}: an error not its own: {error}"));
                }
                None
            }
            Some(Ok(Ok((value, served)))) => {
                self.completed.fetch_add(1, SeqCst);
                self.check(locator, version, &value, served, floor_before);
                if served == Served::Stale && !matches!(kind, Kind::Ok) {
                    self.stale_failing.fetch_add(1, SeqCst);
                }
                Some(served)
            }
        };
        self.log(Event::Served { generation, served });
    }

    fn check(&self, locator: usize, version: u32, value: &str, served: Served, floor_before: u64) {
        let name = &self.locators[locator];
        let Some((of, made_at, _)) = parse_provenance(value) else {
            return self.violation(format!("{name}: unrecognisable value {value:?}"));
        };
        if of != name {
            return self.violation(format!("{name}: got {value:?}, another locator's"));
        }
        let allowed = match served {
            Served::Hit | Served::Miss | Served::Sync => made_at >= version,
            Served::Stale => made_at < version,
        };
        if !allowed {
            self.violation(format!("{name}@{version}: {served:?} returned {value:?}"));
        }
        if matches!(served, Served::Hit | Served::Stale) {
            let epoch = floor_before >> 32;
            let after = self.floors[locator].load(SeqCst);
            if epoch % 2 == 0 && after >> 32 == epoch {
                let floor = (floor_before & 0xFFFF_FFFF) as u32;
                if made_at < floor {
                    self.violation(format!(
                        "{name}: stored version went down from {floor} to {made_at} with no invalidation"
                    ));
                }
                let _ = self.floors[locator].fetch_update(SeqCst, SeqCst, |p| {
                    (p >> 32 == epoch && (p & 0xFFFF_FFFF) < u64::from(made_at))
                        .then_some((epoch << 32) | u64::from(made_at))
                });
            }
        }
    }

    /// The end of a run: refreshes drain, stats add up, no violation.
    async fn finish(&self) -> Stats {
        within("wait_for_refreshes", self.cache.wait_for_refreshes()).await;
        let s = self.cache.stats();
        let mut broken = self.violations.lock().unwrap().clone();
        if s.hits + s.stale_hits + s.misses + s.sync_refreshes != self.completed.load(SeqCst) {
            broken.push(format!(
                "every completed fetch counts once: {} completed",
                self.completed.load(SeqCst)
            ));
        }
        if s.refreshes_started != s.refreshes_completed + s.refreshes_failed + s.refreshes_elsewhere
        {
            broken.push("once idle, every refresh started completed or failed".into());
        }
        if s.refreshes_failed > self.stale_failing.load(SeqCst) {
            broken.push("only failing generators fail refreshes".into());
        }
        if s.refreshes_started + s.refreshes_dropped > s.stale_hits {
            broken.push("at most one refresh per stale hit".into());
        }
        if self.overlapping_refreshes.load(SeqCst) {
            broken.push("two background generators of one locator ran at once".into());
        }
        assert!(broken.is_empty(), "{broken:#?}\n{s:?}");
        s
    }
}

type FetchResult = Result<Result<(String, Served), String>, ()>;

/// Logs the end of a generator's future, however it ends.
struct EndGuard {
    world: Arc<World>,
    generation: u64,
    locator: usize,
    background: bool,
}

impl Drop for EndGuard {
    fn drop(&mut self) {
        if self.background {
            self.world.background[self.locator].fetch_sub(1, SeqCst);
        }
        self.world.log(Event::End {
            generation: self.generation,
        });
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn many_tasks_on_a_multi_thread_runtime() {
    quiet_planned_panics();
    let world = World::new(Cache::builder().max_capacity(10_000).build(), 4);
    let tasks: Vec<_> = (0..16_u64)
        .map(|t| {
            let world = world.clone();
            tokio::spawn(async move {
                let mut rng = Rng::new(t + 1);
                for _ in 0..1_500 {
                    let locator = rng.below(world.locators.len() as u64) as usize;
                    match rng.below(1000) {
                        0..=14 => world.invalidate(Some(locator)).await,
                        15..=17 => world.invalidate(None).await,
                        18..=27 => world.cache.wait_for_refreshes().await,
                        _ => {
                            let yields = rng.below(4);
                            world
                                .fetch(&mut rng, locator, yields, |f| f.map(Some))
                                .await;
                        }
                    }
                }
            })
        })
        .collect();
    for task in tasks {
        within("task", task)
            .await
            .expect("tasks check, never panic");
    }
    let s = world.finish().await;
    // The run exercised what it claims to.
    assert!(
        s.hits > 0 && s.stale_hits > 0 && s.misses > 0 && s.sync_refreshes > 0,
        "{s:?}"
    );
    assert!(s.refreshes_started > 0 && s.refreshes_failed > 0, "{s:?}");
}

/// Polls a future at most `polls` times, then drops it: a caller cancelled at the
/// corresponding await point.
struct Budget {
    future: Pin<Box<dyn Future<Output = FetchResult> + Send>>,
    polls: u64,
}

impl Future for Budget {
    type Output = Option<FetchResult>;
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        if self.polls == 0 {
            return Poll::Ready(None);
        }
        self.polls -= 1;
        self.future.as_mut().poll(cx).map(Some)
    }
}

/// For every generator run in a caller: no generator of the same locator and the
/// same or a newer version was running (joinable) when it was called.
fn check_coalescing(events: &[Event]) -> Result<(), String> {
    use std::collections::HashMap;
    let mut call = HashMap::new();
    let mut first_poll = HashMap::new();
    let mut end = HashMap::new();
    let mut background = HashMap::new();
    let mut invalidations = Vec::new();
    for (at, event) in events.iter().enumerate() {
        match *event {
            Event::Call {
                generation,
                locator,
                version,
            } => {
                call.insert(generation, (at, locator, version));
            }
            Event::Poll { generation } => {
                first_poll.entry(generation).or_insert(at);
            }
            Event::End { generation } => {
                end.insert(generation, at);
            }
            Event::Served { generation, served } => {
                background.insert(generation, served == Some(Served::Stale));
            }
            Event::Invalidated { locator } => invalidations.push((at, locator)),
        }
    }
    // When each generator was joinable: from its call (in a caller) or its first poll
    // (a background refresh), to its end.
    let running: Vec<(u64, usize, u32, usize, usize)> = call
        .iter()
        .filter_map(|(&g, &(called, locator, version))| {
            let start = if background.get(&g).copied().unwrap_or(false) {
                *first_poll.get(&g)?
            } else {
                called
            };
            // Joinable until it ends, or until its locator is invalidated after it
            // was claimed.
            let invalidated = invalidations
                .iter()
                .find(|&&(at, l)| at > called && l.is_none_or(|l| l == locator))
                .map_or(usize::MAX, |&(at, _)| at);
            let stop = end.get(&g).copied().unwrap_or(usize::MAX).min(invalidated);
            Some((g, locator, version, start, stop))
        })
        .collect();
    for (&g, &(called, locator, version)) in &call {
        if background.get(&g).copied().unwrap_or(false) {
            continue;
        }
        if let Some(other) = running.iter().find(|&&(o, l, v, start, stop)| {
            o != g && l == locator && v >= version && start < called && called < stop
        }) {
            return Err(format!(
                "generation {g} (locator {locator}, version {version}) was run at event {called} \
                 while generation {} (version {}) could be joined: {other:?}",
                other.0, other.2
            ));
        }
    }
    Ok(())
}

#[test]
fn randomized_schedules_of_the_claim_logic() {
    quiet_planned_panics();
    const SEEDS: u64 = 2_000;
    let mut totals = Stats::default();
    for seed in 0..SEEDS {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .unwrap();
        let mut rng = Rng::new(seed);
        let cache = match rng.below(3) {
            0 => Cache::builder()
                .refresh_concurrency(1)
                .refresh_queue_capacity(0),
            1 => Cache::builder().refresh_concurrency(0),
            _ => Cache::builder(),
        }
        .build();
        let world = World::new(cache, 2);
        let s = runtime.block_on(async {
            let tasks: Vec<_> = (0..6_u64)
                .map(|t| {
                    let world = world.clone();
                    let mut rng = Rng::new(seed * 1_000 + t);
                    tokio::spawn(async move {
                        for _ in 0..12 {
                            let locator = rng.below(2) as usize;
                            match rng.below(100) {
                                0..=3 => world.invalidate(Some(locator)).await,
                                4 => world.invalidate(None).await,
                                5..=9 => tokio::task::yield_now().await,
                                _ => {
                                    let yields = rng.below(5);
                                    let polls = if rng.chance(15) {
                                        rng.below(6)
                                    } else {
                                        u64::MAX
                                    };
                                    world
                                        .fetch(&mut rng, locator, yields, |future| Budget {
                                            future,
                                            polls,
                                        })
                                        .await;
                                }
                            }
                        }
                    })
                })
                .collect();
            for task in tasks {
                within("task", task)
                    .await
                    .expect("tasks check, never panic");
            }
            world.finish().await
        });
        let events = world.events.lock().unwrap().clone();
        if let Err(why) = check_coalescing(&events) {
            panic!("seed {seed}: {why}");
        }
        totals.hits += s.hits;
        totals.stale_hits += s.stale_hits;
        totals.misses += s.misses;
        totals.sync_refreshes += s.sync_refreshes;
        totals.refreshes_started += s.refreshes_started;
        totals.refreshes_failed += s.refreshes_failed;
    }
    // The schedules exercised every path.
    let t = totals;
    assert!(
        t.hits > 0 && t.stale_hits > 0 && t.misses > 0 && t.sync_refreshes > 0,
        "{t:?}"
    );
    assert!(t.refreshes_started > 0 && t.refreshes_failed > 0, "{t:?}");
}
