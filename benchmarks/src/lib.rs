//! The benchmarks of async-cache, shared by the criterion benches (`cargo bench -p
//! benchmarks`), the report behind the README's "Performance" tables (`cargo run
//! --release -p benchmarks`) and the load benchmark (`cargo run --release -p benchmarks
//! --bin load`, see [`load`]).
//!
//! The hit contenders: every contender gets the same locator strings (`&str`), returns
//! the same value type ([`Value`]) and is bounded by the same capacity ([`CAPACITY`])
//! unless it is the unbounded reference line.

use std::future::Future;
use std::hint::black_box;
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::sync::{Arc, Barrier, LazyLock};
use std::time::{Duration, Instant};

use async_cache_runtime::{Cache, async_cached};
use cached::macros::cached;
use hdrhistogram::Histogram;
use test_support::{CountingAllocator, Rng};

pub mod codec;
#[cfg(feature = "redis")]
pub mod fleet;
pub mod load;
pub mod machine;
#[cfg(feature = "redis")]
pub mod redis_tier;
pub mod time;

/// The capacity of every bounded contender.
pub const CAPACITY: u64 = 10_000;
/// Distinct locators read by the hit benchmarks (all resident: below [`CAPACITY`]).
pub const KEYS: usize = 1_000;
/// Bytes of each hit benchmark value.
pub const VALUE_BYTES: usize = 64;

/// The value every contender returns: shared, so a hit clones a pointer.
pub type Value = Arc<str>;

/// `things/0`, `things/1`, ...: the same strings for every contender.
pub fn locators(n: usize) -> Vec<String> {
    (0..n).map(|i| format!("things/{i}")).collect()
}

/// The value stored under `locator`, `bytes` long.
pub fn payload(locator: &str, bytes: usize) -> Value {
    let mut text = String::with_capacity(bytes);
    while text.len() < bytes {
        text.push_str(locator);
        text.push(';');
    }
    text.truncate(bytes);
    Arc::from(text)
}

/// A fixed pseudo-random visiting order over `n` keys, so that no contender benefits
/// from a sequential pattern and all see the same one.
pub fn order(n: usize, len: usize) -> Vec<u32> {
    let mut rng = Rng::new(0x9E37_79B9_7F4A_7C15);
    (0..len).map(|_| rng.below(n as u64) as u32).collect()
}

// ---------------------------------------------------------------------------------
// The fresh-hit contenders.

static ATTR_CACHE: LazyLock<Cache> =
    LazyLock::new(|| Cache::builder().max_capacity(CAPACITY).build());

/// Ours, through the attribute: the locator is the argument itself, so the ratio to
/// [`Hit::Ours`] is the attribute's own cost (no formatting on either side).
#[async_cached(locator = locator, version = 1_u64, cache = &*ATTR_CACHE)]
pub async fn ours_attribute(locator: &str) -> Value {
    payload(locator, VALUE_BYTES)
}

/// `cached`'s `#[cached]` on equal terms: LRU-bounded at [`CAPACITY`], keyed by the
/// locator string (which `cached` must own to look up: a `String` per call).
#[cached(
    max_size = 10000,
    key = "String",
    convert = r#"{ locator.to_owned() }"#
)]
pub async fn cached_bounded(locator: &str) -> Value {
    payload(locator, VALUE_BYTES)
}

/// `cached`'s default store (unbounded), as a reference line.
#[cached(key = "String", convert = r#"{ locator.to_owned() }"#)]
pub async fn cached_unbounded(locator: &str) -> Value {
    payload(locator, VALUE_BYTES)
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Hit {
    /// `Cache::fetch`.
    Ours,
    /// An `#[async_cached]` function.
    Attribute,
    /// `moka::future::Cache::get`, moka's default hasher.
    MokaFuture,
    /// `moka::sync::Cache::get`, moka's default hasher.
    MokaSync,
    /// `moka::sync::Cache::get` with foldhash: exactly the store ours is built on.
    MokaSyncFoldhash,
    /// `quick_cache::sync::Cache::get` (its default hasher, foldhash): a lighter
    /// bounded concurrent store than moka, for reference.
    QuickCache,
    /// `#[cached(max_size = CAPACITY)] async fn`.
    CachedBounded,
    /// `#[cached] async fn` (unbounded).
    CachedUnbounded,
}

impl Hit {
    pub const ALL: [Hit; 8] = [
        Hit::Ours,
        Hit::Attribute,
        Hit::MokaFuture,
        Hit::MokaSync,
        Hit::MokaSyncFoldhash,
        Hit::QuickCache,
        Hit::CachedBounded,
        Hit::CachedUnbounded,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Hit::Ours => "ours Cache::fetch",
            Hit::Attribute => "ours #[async_cached]",
            Hit::MokaFuture => "moka::future get",
            Hit::MokaSync => "moka::sync get",
            Hit::MokaSyncFoldhash => "moka::sync get (foldhash)",
            Hit::QuickCache => "quick_cache::sync get",
            Hit::CachedBounded => "cached #[cached] LruCache",
            Hit::CachedUnbounded => "cached #[cached] unbounded",
        }
    }

    pub fn id(self) -> &'static str {
        match self {
            Hit::Ours => "ours_fetch",
            Hit::Attribute => "ours_attribute",
            Hit::MokaFuture => "moka_future",
            Hit::MokaSync => "moka_sync",
            Hit::MokaSyncFoldhash => "moka_sync_foldhash",
            Hit::QuickCache => "quick_cache",
            Hit::CachedBounded => "cached_bounded",
            Hit::CachedUnbounded => "cached_unbounded",
        }
    }
}

/// One instance of every contender, filled with the same [`KEYS`] entries.
pub struct Contenders {
    pub keys: Vec<String>,
    pub order: Vec<u32>,
    pub ours: Cache,
    pub moka_future: moka::future::Cache<String, Value>,
    pub moka_sync: moka::sync::Cache<String, Value>,
    pub moka_sync_foldhash: moka::sync::Cache<String, Value, foldhash::fast::RandomState>,
    pub quick_cache: quick_cache::sync::Cache<String, Value>,
}

/// What a generator returns on a hit benchmark: never run once filled.
fn generate(locator: &str) -> impl Future<Output = Value> + Send + 'static {
    let value = payload(locator, VALUE_BYTES);
    async move { value }
}

/// Runs `$op` (an expression of the key `$k` that awaits to a [`Value`]) `$iters`
/// times over `$c`'s keys in its order: one monomorphic loop per contender.
macro_rules! hit_loop {
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
            black_box($op);
        }
        start.elapsed()
    }};
}

impl Contenders {
    pub async fn new() -> Arc<Self> {
        let keys = locators(KEYS);
        let c = Contenders {
            order: order(KEYS, 1 << 14),
            ours: Cache::builder().max_capacity(CAPACITY).build(),
            moka_future: moka::future::Cache::new(CAPACITY),
            moka_sync: moka::sync::Cache::new(CAPACITY),
            moka_sync_foldhash: moka::sync::Cache::builder()
                .max_capacity(CAPACITY)
                .build_with_hasher(foldhash::fast::RandomState::default()),
            quick_cache: quick_cache::sync::Cache::new(CAPACITY as usize),
            keys,
        };
        for key in &c.keys {
            let value = payload(key, VALUE_BYTES);
            c.ours.fetch(key.as_str(), 1_u64, || generate(key)).await;
            ours_attribute(key).await;
            c.moka_future.insert(key.clone(), value.clone()).await;
            c.moka_sync.insert(key.clone(), value.clone());
            c.moka_sync_foldhash.insert(key.clone(), value.clone());
            c.quick_cache.insert(key.clone(), value.clone());
            cached_bounded(key).await;
            cached_unbounded(key).await;
        }
        c.moka_future.run_pending_tasks().await;
        c.moka_sync.run_pending_tasks();
        c.moka_sync_foldhash.run_pending_tasks();
        c.check_all_hit().await;
        Arc::new(c)
    }

    /// Every contender serves every key from its store (no generator runs).
    async fn check_all_hit(&self) {
        use cached::Cached;
        let misses = |c: &cached::LruCache<String, Value>| c.cache_misses();
        let bounded = misses(&*CACHED_BOUNDED.read().await);
        let unbounded = CACHED_UNBOUNDED.read().await.cache_misses();
        let ours = (self.ours.stats().misses, ATTR_CACHE.stats().misses);
        for key in &self.keys {
            self.ours.fetch(key.as_str(), 1_u64, || generate(key)).await;
            ours_attribute(key).await;
            assert!(self.moka_future.get(key).await.is_some());
            assert!(self.moka_sync.get(key).is_some());
            assert!(self.moka_sync_foldhash.get(key).is_some());
            assert!(self.quick_cache.get(key.as_str()).is_some());
            cached_bounded(key).await;
            cached_unbounded(key).await;
        }
        assert_eq!(misses(&*CACHED_BOUNDED.read().await), bounded);
        assert_eq!(CACHED_UNBOUNDED.read().await.cache_misses(), unbounded);
        assert_eq!((self.ours.stats().misses, ATTR_CACHE.stats().misses), ours);
    }

    /// `iters` hits of `which`, in this task, from place `from` of the order.
    pub async fn hits(&self, which: Hit, iters: u64, from: usize) -> Duration {
        match which {
            Hit::Ours => hit_loop!(self, iters, from, |k| self
                .ours
                .fetch(k, 1_u64, || generate(k))
                .await),
            Hit::Attribute => hit_loop!(self, iters, from, |k| ours_attribute(k).await),
            Hit::MokaFuture => hit_loop!(self, iters, from, |k| self.moka_future.get(k).await),
            Hit::MokaSync => hit_loop!(self, iters, from, |k| self.moka_sync.get(k)),
            Hit::MokaSyncFoldhash => {
                hit_loop!(self, iters, from, |k| self.moka_sync_foldhash.get(k))
            }
            Hit::QuickCache => hit_loop!(self, iters, from, |k| self.quick_cache.get(k)),
            Hit::CachedBounded => hit_loop!(self, iters, from, |k| cached_bounded(k).await),
            Hit::CachedUnbounded => hit_loop!(self, iters, from, |k| cached_unbounded(k).await),
        }
    }

    /// `iters` hits of `which` in each of `threads` threads at once (each its own
    /// current-thread runtime): the wall time, i.e. the time per hit per thread
    /// times `iters`. Timed by the threads themselves, from the first one's start to
    /// the last one's end: a clock read by the spawning thread after the barrier
    /// could start late (it waits for a core while the hitting threads run), which
    /// once made a round look several times faster than it was.
    pub fn hits_threaded(self: &Arc<Self>, which: Hit, threads: usize, iters: u64) -> Duration {
        let barrier = Arc::new(Barrier::new(threads));
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                let c = self.clone();
                let barrier = barrier.clone();
                std::thread::spawn(move || {
                    let rt = current_thread();
                    barrier.wait();
                    let start = Instant::now();
                    // Each thread starts at another place of the order.
                    let took = rt.block_on(c.hits(which, iters, t * 4099));
                    (start, start + took)
                })
            })
            .collect();
        let spans: Vec<(Instant, Instant)> = handles
            .into_iter()
            .map(|handle| handle.join().expect("a bench thread"))
            .collect();
        let first = spans.iter().map(|span| span.0).min().expect("a thread");
        let last = spans.iter().map(|span| span.1).max().expect("a thread");
        last - first
    }
}

/// How many reads a bench's `BENCH_PROFILE` run makes: `BENCH_PROFILE_ITERS`, or
/// 100,000. Two runs with different counts give, under `valgrind --tool=callgrind`,
/// instructions per read.
pub fn profile_iters() -> u64 {
    std::env::var("BENCH_PROFILE_ITERS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(100_000)
}

pub fn current_thread() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime")
}

pub fn multi_thread(workers: usize) -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers)
        .enable_all()
        .build()
        .expect("a tokio runtime")
}

pub fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    let n = values.len();
    if n == 0 {
        return f64::NAN;
    }
    if n % 2 == 1 {
        values[n / 2]
    } else {
        (values[n / 2 - 1] + values[n / 2]) / 2.0
    }
}

// ---------------------------------------------------------------------------------
// The stale path.

/// Locators of the stale benchmarks.
pub const STALE_KEYS: usize = 256;
/// How long a refresh (and `cached`'s regeneration) takes.
pub const REFRESH: Duration = Duration::from_millis(100);
/// `cached`'s TTL in the version-bump comparison: its entries have just expired.
pub const CACHED_TTL_MS: u64 = 30;

pub fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 60_000_000_000, 3).expect("histogram bounds")
}

/// Latencies (ns) of one stale-path round of ours.
pub struct StaleRound {
    /// Fresh hits of the same locators, once refreshed.
    pub fresh: Histogram<u64>,
    /// Reads of an outdated entry whose refresh is already running: served stale.
    pub stale: Histogram<u64>,
    /// The first read of each locator after its version was bumped: served stale,
    /// and schedules its refresh.
    pub bump: Histogram<u64>,
}

/// The stale-path cache: every locator's refresh runs at once.
pub fn stale_cache() -> Cache {
    Cache::builder()
        .max_capacity(CAPACITY)
        .refresh_concurrency(STALE_KEYS)
        .build()
}

async fn slow_value(locator: String) -> Value {
    tokio::time::sleep(REFRESH).await;
    payload(&locator, VALUE_BYTES)
}

#[inline]
async fn timed_fetch(cache: &Cache, locator: &str, version: u64) -> u64 {
    let start = Instant::now();
    let value = cache
        .fetch(locator, version, || slow_value(locator.to_owned()))
        .await;
    let elapsed = start.elapsed();
    black_box(value);
    elapsed.as_nanos() as u64
}

/// Fills `cache` with `keys` at version 1 (cheaply).
pub async fn fill_stale_cache(cache: &Cache, keys: &[String]) {
    for key in keys {
        cache.fetch(key.as_str(), 1_u64, || generate(key)).await;
    }
}

/// One round on a multi-thread runtime: bump every locator from `version` to
/// `version + 1` (timing each first read), read them all stale for 80 ms while
/// their 100 ms refreshes run, wait for the refreshes, then read them fresh as many
/// times as they were read stale.
pub async fn stale_round(cache: &Cache, keys: &[String], version: u64) -> StaleRound {
    let mut round = StaleRound {
        fresh: histogram(),
        stale: histogram(),
        bump: histogram(),
    };
    let next = version + 1;
    let bumped = Instant::now();
    for key in keys {
        round
            .bump
            .saturating_record(timed_fetch(cache, key, next).await);
    }
    let mut passes = 0;
    while bumped.elapsed() < REFRESH * 8 / 10 {
        for key in keys {
            round
                .stale
                .saturating_record(timed_fetch(cache, key, next).await);
        }
        passes += 1;
    }
    cache.wait_for_refreshes().await;
    for _ in 0..passes {
        for key in keys {
            round
                .fresh
                .saturating_record(timed_fetch(cache, key, next).await);
        }
    }
    round
}

/// The reads right after a version bump, all locators at once (one task each, as
/// requests would): ours serves the stale entry and refreshes in the background.
pub async fn ours_after_bump(cache: &Cache, keys: &[String], version: u64) -> Histogram<u64> {
    let tasks: Vec<_> = keys
        .iter()
        .map(|key| {
            let cache = cache.clone();
            let key = key.clone();
            tokio::spawn(async move { timed_fetch(&cache, &key, version).await })
        })
        .collect();
    let mut histogram = histogram();
    for task in tasks {
        histogram.saturating_record(task.await.expect("a reader task"));
    }
    cache.wait_for_refreshes().await;
    histogram
}

/// `cached` with a TTL, its generator as slow as ours.
#[cached(
    ty = "cached::LruTtlCache<String, Value>",
    create = r#"{ cached::LruTtlCache::builder().max_size(10000).ttl(Duration::from_millis(CACHED_TTL_MS)).build().expect("a cached store") }"#,
    key = "String",
    convert = r#"{ locator.to_owned() }"#
)]
pub async fn cached_ttl(locator: &str) -> Value {
    slow_value(locator.to_owned()).await
}

/// The same reads of `cached` whose TTL has just expired (as a version bump is
/// expressed with a TTL cache): every caller waits for the generator.
pub async fn cached_after_expiry(keys: &[String]) -> Histogram<u64> {
    // Fill (concurrently: each fill waits for the generator), then let them expire.
    let fills: Vec<_> = keys
        .iter()
        .map(|key| {
            let key = key.clone();
            tokio::spawn(async move { cached_ttl(&key).await })
        })
        .collect();
    for fill in fills {
        fill.await.expect("a fill task");
    }
    tokio::time::sleep(Duration::from_millis(CACHED_TTL_MS + 5)).await;
    let tasks: Vec<_> = keys
        .iter()
        .map(|key| {
            let key = key.clone();
            tokio::spawn(async move {
                let start = Instant::now();
                black_box(cached_ttl(&key).await);
                start.elapsed().as_nanos() as u64
            })
        })
        .collect();
    let mut histogram = histogram();
    for task in tasks {
        histogram.saturating_record(task.await.expect("a reader task"));
    }
    histogram
}

// ---------------------------------------------------------------------------------
// Herds: 10,000 concurrent callers of one locator.

pub const HERD: usize = 10_000;
/// How long a herd's generator takes.
pub const HERD_GENERATOR: Duration = Duration::from_millis(50);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Herd {
    /// Ours, the locator missing.
    OursMissing,
    /// Ours, the locator stored at an older version.
    OursStale,
    /// `cached` (LRU + TTL), the key missing.
    CachedMissing,
    /// `cached` (LRU + TTL), the key's TTL just expired.
    CachedExpired,
    /// `cached` with `sync_writes = "default"`, the key missing.
    CachedSyncMissing,
    /// `cached` with `sync_writes = "default"`, the key's TTL just expired.
    CachedSyncExpired,
    /// `cached` with `sync_writes = "by_key"`, the key missing.
    CachedByKeyMissing,
}

impl Herd {
    pub const ALL: [Herd; 7] = [
        Herd::OursMissing,
        Herd::OursStale,
        Herd::CachedMissing,
        Herd::CachedExpired,
        Herd::CachedSyncMissing,
        Herd::CachedSyncExpired,
        Herd::CachedByKeyMissing,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Herd::OursMissing => "ours, missing",
            Herd::OursStale => "ours, stale (older version)",
            Herd::CachedMissing => "cached, missing",
            Herd::CachedExpired => "cached, TTL just expired",
            Herd::CachedSyncMissing => "cached sync_writes, missing",
            Herd::CachedSyncExpired => "cached sync_writes, TTL just expired",
            Herd::CachedByKeyMissing => "cached sync_writes=by_key, missing",
        }
    }

    pub fn id(self) -> &'static str {
        match self {
            Herd::OursMissing => "ours_missing",
            Herd::OursStale => "ours_stale",
            Herd::CachedMissing => "cached_missing",
            Herd::CachedExpired => "cached_expired",
            Herd::CachedSyncMissing => "cached_sync_missing",
            Herd::CachedSyncExpired => "cached_sync_expired",
            Herd::CachedByKeyMissing => "cached_by_key_missing",
        }
    }
}

static HERD_RUNS: AtomicUsize = AtomicUsize::new(0);
static HERD_ROUND: AtomicUsize = AtomicUsize::new(0);

async fn herd_value(locator: String) -> Value {
    HERD_RUNS.fetch_add(1, Relaxed);
    tokio::time::sleep(HERD_GENERATOR).await;
    payload(&locator, VALUE_BYTES)
}

#[cached(
    ty = "cached::LruTtlCache<String, Value>",
    create = r#"{ cached::LruTtlCache::builder().max_size(10000).ttl(Duration::from_millis(CACHED_TTL_MS)).build().expect("a cached store") }"#,
    key = "String",
    convert = r#"{ locator.to_owned() }"#
)]
async fn herd_cached(locator: &str) -> Value {
    herd_value(locator.to_owned()).await
}

#[cached(
    ty = "cached::LruTtlCache<String, Value>",
    create = r#"{ cached::LruTtlCache::builder().max_size(10000).ttl(Duration::from_millis(CACHED_TTL_MS)).build().expect("a cached store") }"#,
    key = "String",
    convert = r#"{ locator.to_owned() }"#,
    sync_writes = "default"
)]
async fn herd_cached_sync(locator: &str) -> Value {
    herd_value(locator.to_owned()).await
}

#[cached(
    ty = "cached::LruTtlCache<String, Value>",
    create = r#"{ cached::LruTtlCache::builder().max_size(10000).ttl(Duration::from_millis(CACHED_TTL_MS)).build().expect("a cached store") }"#,
    key = "String",
    convert = r#"{ locator.to_owned() }"#,
    sync_writes = "by_key"
)]
async fn herd_cached_by_key(locator: &str) -> Value {
    herd_value(locator.to_owned()).await
}

/// What one herd did.
#[derive(Clone, Copy, Debug)]
pub struct HerdResult {
    /// Generator runs the herd caused (a background refresh included).
    pub runs: usize,
    /// From the first spawn until every caller had its value.
    pub wall: Duration,
}

/// Runs one herd of [`HERD`] callers (on the current multi-thread runtime).
pub async fn herd(which: Herd, cache: &Cache) -> HerdResult {
    let round = HERD_ROUND.fetch_add(1, Relaxed);
    let locator = format!("herd/{}/{round}", which.id());
    // Prepare the stored state.
    match which {
        Herd::OursStale => {
            cache
                .fetch(locator.as_str(), 1_u64, || generate(&locator))
                .await;
        }
        Herd::CachedExpired => {
            herd_cached(&locator).await;
            tokio::time::sleep(Duration::from_millis(CACHED_TTL_MS + 5)).await;
        }
        Herd::CachedSyncExpired => {
            herd_cached_sync(&locator).await;
            tokio::time::sleep(Duration::from_millis(CACHED_TTL_MS + 5)).await;
        }
        _ => {}
    }
    HERD_RUNS.store(0, Relaxed);
    let start = Instant::now();
    let tasks: Vec<_> = (0..HERD)
        .map(|_| {
            let cache = cache.clone();
            let locator = locator.clone();
            tokio::spawn(async move {
                let value = match which {
                    Herd::OursMissing | Herd::OursStale => {
                        cache
                            .fetch(locator.as_str(), 2_u64, || herd_value(locator.clone()))
                            .await
                    }
                    Herd::CachedMissing | Herd::CachedExpired => herd_cached(&locator).await,
                    Herd::CachedSyncMissing | Herd::CachedSyncExpired => {
                        herd_cached_sync(&locator).await
                    }
                    Herd::CachedByKeyMissing => herd_cached_by_key(&locator).await,
                };
                black_box(value);
            })
        })
        .collect();
    for task in tasks {
        task.await.expect("a herd caller");
    }
    let wall = start.elapsed();
    // A stale herd's refresh runs after its callers returned: count it too.
    cache.wait_for_refreshes().await;
    HerdResult {
        runs: HERD_RUNS.load(Relaxed),
        wall,
    }
}

// ---------------------------------------------------------------------------------
// Scale: hit cost against entry count and value size; bytes per entry.

/// Ours and raw moka (the same hasher, no expiry policy) holding `n` entries of
/// `bytes`-long values, read in the same random order.
pub struct Scale {
    pub keys: Vec<String>,
    pub order: Vec<u32>,
    pub ours: Cache,
    pub moka: moka::sync::Cache<String, Value, foldhash::fast::RandomState>,
}

impl Scale {
    pub async fn new(n: usize, bytes: usize) -> Self {
        let keys = locators(n);
        let s = Scale {
            order: order(n, 1 << 16),
            ours: Cache::builder().max_capacity(n as u64).build(),
            moka: moka::sync::Cache::builder()
                .max_capacity(n as u64)
                .build_with_hasher(foldhash::fast::RandomState::default()),
            keys,
        };
        for key in &s.keys {
            let value = payload(key, bytes);
            let for_ours = value.clone();
            s.ours
                .fetch(key.as_str(), 1_u64, || async move { for_ours })
                .await;
            s.moka.insert(key.clone(), value);
        }
        s.moka.run_pending_tasks();
        s
    }

    pub async fn ours_hits(&self, iters: u64, from: usize) -> Duration {
        hit_loop!(self, iters, from, |k| self
            .ours
            .fetch(k, 1_u64, || generate(k))
            .await)
    }

    pub fn moka_hits(&self, iters: u64, from: usize) -> Duration {
        hit_loop!(self, iters, from, |k| self.moka.get(k))
    }
}

/// Moka with the same per-entry expiry policy ours configures (to attribute the
/// overhead): values never expire.
struct NeverExpire;

impl moka::Expiry<String, (u64, Option<Duration>, Value)> for NeverExpire {
    fn expire_after_create(
        &self,
        _: &String,
        value: &(u64, Option<Duration>, Value),
        _: Instant,
    ) -> Option<Duration> {
        value.1
    }
}

/// Lets the front's epoch-based reclamation (the `scc` crate's) free what this thread
/// retired: a few epochs passed with no reader in them.
fn settle_reclamation() {
    for _ in 0..8 {
        let guard = scc::ebr::Guard::new();
        guard.accelerate();
    }
}

/// Bytes per entry (live heap, counted by `allocator`, which must be the binary's
/// global allocator) of `n` entries of `VALUE_BYTES`-long values: `(ours, raw moka,
/// moka with an expiry policy)`.
pub fn bytes_per_entry(allocator: &CountingAllocator, n: usize) -> (f64, f64, f64) {
    let keys = locators(n);
    let values: Vec<Value> = keys.iter().map(|k| payload(k, VALUE_BYTES)).collect();
    let rt = current_thread();
    // What earlier work retired is freed before counting starts, or its frees would
    // be taken off ours.
    settle_reclamation();
    let (ours, ours_bytes) = allocator.live_bytes_after(|| {
        let cache = Cache::builder().max_capacity(n as u64).build();
        rt.block_on(async {
            for (key, value) in keys.iter().zip(&values) {
                let value = value.clone();
                cache
                    .fetch(key.as_str(), 1_u64, || async move { value })
                    .await;
            }
            // Every entry hit once (so that the front's share is counted with the
            // rest), which also lets moka's housekeeping drain its write buffers.
            for key in &keys {
                cache.fetch(key.as_str(), 1_u64, || generate(key)).await;
            }
        });
        // What the front's growth retired (its old tables) is not held for good.
        settle_reclamation();
        cache
    });
    let (moka, moka_bytes) = allocator.live_bytes_after(|| {
        let cache: moka::sync::Cache<String, Value, _> = moka::sync::Cache::builder()
            .max_capacity(n as u64)
            .build_with_hasher(foldhash::fast::RandomState::default());
        for (key, value) in keys.iter().zip(&values) {
            cache.insert(key.clone(), value.clone());
        }
        cache.run_pending_tasks();
        cache
    });
    let (expiry, expiry_bytes) = allocator.live_bytes_after(|| {
        let cache: moka::sync::Cache<String, (u64, Option<Duration>, Value), _> =
            moka::sync::Cache::builder()
                .max_capacity(n as u64)
                .expire_after(NeverExpire)
                .build_with_hasher(foldhash::fast::RandomState::default());
        for (key, value) in keys.iter().zip(&values) {
            cache.insert(key.clone(), (0, None, value.clone()));
        }
        cache.run_pending_tasks();
        cache
    });
    assert_eq!(ours.stats().misses as usize, n, "every entry stored once");
    assert_eq!(moka.entry_count() as usize, n, "every entry stored");
    drop((ours, moka, expiry));
    let per = |bytes: isize| bytes as f64 / n as f64;
    (per(ours_bytes), per(moka_bytes), per(expiry_bytes))
}

// ---------------------------------------------------------------------------------
// Hit ratio past capacity: does moka still admit and evict well when most hits are
// answered by the front and only a sample of them reach it?

/// Keys, requests and capacity of the hit-ratio trace.
pub const ZIPF_KEYS: usize = 100_000;
pub const ZIPF_REQUESTS: usize = 1_000_000;
pub const ZIPF_CAPACITY: u64 = 10_000;

/// A Zipf-like trace (exponent 0.99) over `keys` keys: key `i` is requested in
/// proportion to `1 / (i + 1)^0.99`, in a seeded order.
pub fn zipf_trace(keys: usize, requests: usize, seed: u64) -> Vec<u32> {
    let mut cdf = Vec::with_capacity(keys);
    let mut total = 0.0_f64;
    for i in 0..keys {
        total += 1.0 / ((i + 1) as f64).powf(0.99);
        cdf.push(total);
    }
    let mut rng = Rng::new(seed);
    (0..requests)
        .map(|_| {
            let u = (rng.next_u64() >> 11) as f64 / (1_u64 << 53) as f64 * total;
            cdf.partition_point(|&c| c < u).min(keys - 1) as u32
        })
        .collect()
}

/// Hit ratios on `trace` over `locators` with `capacity`: `(ours, raw moka::sync)`.
/// Ours through `Cache::fetch` (a miss generates and stores), moka by `get`, then
/// `insert` on a miss: what a caching layer over it does.
pub fn hit_ratios(locators: &[String], trace: &[u32], capacity: u64) -> (f64, f64) {
    let rt = current_thread();
    let cache = Cache::builder().max_capacity(capacity).build();
    rt.block_on(async {
        for &i in trace {
            let locator = locators[i as usize].as_str();
            let value = black_box(cache.fetch(locator, 1_u64, || generate(locator)).await);
            drop(value);
        }
    });
    let ours = 1.0 - cache.stats().misses as f64 / trace.len() as f64;

    let moka: moka::sync::Cache<String, Value, _> = moka::sync::Cache::builder()
        .max_capacity(capacity)
        .build_with_hasher(foldhash::fast::RandomState::default());
    let mut misses = 0_u64;
    for &i in trace {
        let locator = &locators[i as usize];
        if moka.get(locator.as_str()).is_none() {
            misses += 1;
            moka.insert(locator.clone(), payload(locator, VALUE_BYTES));
        }
    }
    let raw = 1.0 - misses as f64 / trace.len() as f64;
    (ours, raw)
}
