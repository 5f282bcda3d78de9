//! `#[async_cached]` functions called on a multi-thread runtime: what each call
//! serves, and exactly how often each body runs.

use std::future::Future;
use std::pin::Pin;
use std::sync::LazyLock;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::time::Duration;

use async_cache_runtime::{Cache, Stats, async_cached};

fn runs(counter: &AtomicUsize) -> usize {
    counter.load(SeqCst)
}

// --- miss, hit, stale then refreshed --------------------------------------------

static PLAIN: LazyLock<Cache> = LazyLock::new(Cache::new);
static PLAIN_RUNS: AtomicUsize = AtomicUsize::new(0);

/// Renders a thing (docs and attributes are kept).
#[async_cached(locator = format!("things/{id}"), version = updated_at, cache = &PLAIN)]
#[inline(never)]
pub async fn render_thing(id: u64, updated_at: u64) -> String {
    PLAIN_RUNS.fetch_add(1, SeqCst);
    format!("thing {id} at {updated_at}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn miss_hit_stale_then_refreshed() {
    assert_eq!(render_thing(1, 10).await, "thing 1 at 10", "miss");
    assert_eq!(runs(&PLAIN_RUNS), 1);
    assert_eq!(render_thing(1, 10).await, "thing 1 at 10", "hit");
    assert_eq!(
        render_thing(1, 9).await,
        "thing 1 at 10",
        "older version: hit"
    );
    assert_eq!(runs(&PLAIN_RUNS), 1);

    assert_eq!(
        render_thing(1, 11).await,
        "thing 1 at 10",
        "stale, served at once"
    );
    PLAIN.wait_for_refreshes().await;
    assert_eq!(runs(&PLAIN_RUNS), 2, "one background refresh");
    assert_eq!(render_thing(1, 11).await, "thing 1 at 11", "refreshed");
    assert_eq!(runs(&PLAIN_RUNS), 2);

    let stats = PLAIN.stats();
    assert_eq!((stats.misses, stats.hits, stats.stale_hits), (1, 3, 1));
    assert_eq!(stats.refreshes_completed, 1);
}

// --- concurrent misses coalesce ---------------------------------------------------

static COALESCE: LazyLock<Cache> = LazyLock::new(Cache::new);
static COALESCE_RUNS: AtomicUsize = AtomicUsize::new(0);

#[async_cached(locator = "slow", version = 1_u8, cache = &COALESCE)]
async fn slow() -> u64 {
    COALESCE_RUNS.fetch_add(1, SeqCst);
    tokio::time::sleep(Duration::from_millis(50)).await;
    7
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_misses_run_the_body_once() {
    let calls: Vec<_> = (0..8).map(|_| tokio::spawn(slow())).collect();
    for call in calls {
        assert_eq!(call.await.unwrap(), 7);
    }
    assert_eq!(runs(&COALESCE_RUNS), 1);
}

// --- force_sync --------------------------------------------------------------------

static FORCE: LazyLock<Cache> = LazyLock::new(Cache::new);
static FORCE_RUNS: AtomicUsize = AtomicUsize::new(0);

#[async_cached(locator = "forced", version = version, force_sync, cache = &FORCE)]
async fn always_fresh(version: u32) -> u32 {
    FORCE_RUNS.fetch_add(1, SeqCst);
    version
}

#[async_cached(locator = format!("page/{id}"), version = version, force_sync = editor, cache = &FORCE)]
async fn page(id: u32, version: u32, editor: bool) -> String {
    FORCE_RUNS.fetch_add(1, SeqCst);
    format!("page {id} v{version}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn force_sync_bare_and_per_call() {
    assert_eq!(always_fresh(1).await, 1);
    assert_eq!(
        always_fresh(2).await,
        2,
        "bare force_sync: regenerated in the caller"
    );
    assert_eq!(runs(&FORCE_RUNS), 2);
    assert_eq!(always_fresh(2).await, 2, "then a hit");
    assert_eq!(runs(&FORCE_RUNS), 2);

    assert_eq!(page(1, 1, false).await, "page 1 v1");
    assert_eq!(
        page(1, 2, false).await,
        "page 1 v1",
        "a reader gets it stale"
    );
    FORCE.wait_for_refreshes().await;
    assert_eq!(runs(&FORCE_RUNS), 4);
    assert_eq!(
        page(1, 3, true).await,
        "page 1 v3",
        "an editor gets it fresh"
    );
    assert_eq!(runs(&FORCE_RUNS), 5);
    assert_eq!(FORCE.stats().sync_refreshes, 2);
}

// --- expires_in -------------------------------------------------------------------

static EXPIRING: LazyLock<Cache> = LazyLock::new(Cache::new);
static EXPIRING_RUNS: AtomicUsize = AtomicUsize::new(0);

#[async_cached(
    locator = "hour",
    version = 1_u8,
    expires_in = Duration::from_secs(3600),
    cache = &EXPIRING,
)]
async fn for_an_hour() -> &'static str {
    EXPIRING_RUNS.fetch_add(1, SeqCst);
    "hour"
}

#[async_cached(
    locator = "brief",
    version = 1_u8,
    expires_in = Duration::from_millis(ttl_ms),
    cache = &EXPIRING,
)]
async fn briefly(ttl_ms: u64) -> &'static str {
    EXPIRING_RUNS.fetch_add(1, SeqCst);
    "brief"
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expires_in_bounds_what_is_written() {
    assert_eq!(for_an_hour().await, "hour");
    assert_eq!(for_an_hour().await, "hour");
    assert_eq!(runs(&EXPIRING_RUNS), 1, "a long ttl has not expired");

    // Written with a short ttl, then read again well after it: a miss.
    assert_eq!(briefly(20).await, "brief");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(briefly(20).await, "brief");
    assert_eq!(runs(&EXPIRING_RUNS), 3, "expired entries are regenerated");
}

// --- Result --------------------------------------------------------------------------

static FALLIBLE: LazyLock<Cache> = LazyLock::new(Cache::new);
static FALLIBLE_RUNS: AtomicUsize = AtomicUsize::new(0);

#[derive(Debug, PartialEq)]
struct Failed(u32);

impl From<std::num::ParseIntError> for Failed {
    fn from(_: std::num::ParseIntError) -> Self {
        Failed(0)
    }
}

async fn lookup_version(key: &str) -> Result<u32, Failed> {
    key.len().try_into().map_err(|_| Failed(1))
}

#[async_cached(locator = key.as_str(), version = lookup_version(&key).await?, cache = &FALLIBLE)]
async fn parse(key: String, fail: bool) -> Result<u32, Failed> {
    FALLIBLE_RUNS.fetch_add(1, SeqCst);
    if fail {
        return Err(Failed(2));
    }
    Ok(key.trim_start_matches('k').parse::<u32>()?)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn result_caches_only_ok() {
    assert_eq!(parse("k12".to_owned(), true).await, Err(Failed(2)));
    assert_eq!(
        parse("k12".to_owned(), true).await,
        Err(Failed(2)),
        "not cached"
    );
    assert_eq!(runs(&FALLIBLE_RUNS), 2);
    assert_eq!(parse("k12".to_owned(), false).await, Ok(12));
    assert_eq!(parse("k12".to_owned(), true).await, Ok(12), "Ok is cached");
    assert_eq!(runs(&FALLIBLE_RUNS), 3);
    assert_eq!(
        parse("kx".to_owned(), false).await,
        Err(Failed(0)),
        "`?` in the body"
    );
    assert_eq!(runs(&FALLIBLE_RUNS), 4);
}

// --- methods, borrowed arguments -----------------------------------------------------

static CLONES: AtomicUsize = AtomicUsize::new(0);

struct Repo {
    cache: Cache,
    name: String,
    runs: std::sync::Arc<AtomicUsize>,
}

impl Clone for Repo {
    fn clone(&self) -> Self {
        CLONES.fetch_add(1, SeqCst);
        Repo {
            cache: self.cache.clone(),
            name: self.name.clone(),
            runs: self.runs.clone(),
        }
    }
}

impl Repo {
    #[async_cached(locator = format!("{}/{key}", self.name), version = 1_u8, cache = &self.cache)]
    async fn describe(&self, key: &str, bytes: &[u8]) -> String {
        self.runs.fetch_add(1, SeqCst);
        let len: usize = bytes.len();
        let key: &str = key;
        format!("{key} ({len} bytes) in {}", self.name)
    }

    #[async_cached(locator = format!("{}/count", self.name), version = version, cache = &self.cache)]
    async fn count(&self, version: u64) -> u64 {
        self.runs.fetch_add(1, SeqCst);
        let counted = self.name.len() as u64;
        counted + version
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn methods_and_borrowed_arguments() {
    let counter = std::sync::Arc::new(AtomicUsize::new(0));
    let repo = Repo {
        cache: Cache::new(),
        name: "repo".to_owned(),
        runs: counter.clone(),
    };
    let key = String::from("k");
    assert_eq!(repo.describe(&key, &[1, 2, 3]).await, "k (3 bytes) in repo");
    assert_eq!(CLONES.load(SeqCst), 1, "`self` cloned for the miss");
    assert_eq!(repo.describe("k", b"").await, "k (3 bytes) in repo", "hit");
    assert_eq!(CLONES.load(SeqCst), 1, "a hit copies nothing");
    assert_eq!(runs(&counter), 1);

    assert_eq!(repo.count(1).await, 5);
    assert_eq!(repo.count(2).await, 5, "stale");
    repo.cache.wait_for_refreshes().await;
    assert_eq!(repo.count(2).await, 6, "refreshed");
    assert_eq!(runs(&counter), 3);
}

// --- generics with where clauses --------------------------------------------------------

static GENERIC: LazyLock<Cache> = LazyLock::new(Cache::new);
static GENERIC_RUNS: AtomicUsize = AtomicUsize::new(0);

#[async_cached(locator = format!("sum/{}", name.as_ref()), version = 1_u8, cache = &GENERIC)]
async fn sum<T, N>(name: N, items: Vec<T>) -> T
where
    T: Copy + std::iter::Sum<T> + Clone + Send + Sync + 'static,
    N: AsRef<str> + Send + Sync + 'static,
{
    GENERIC_RUNS.fetch_add(1, SeqCst);
    let _ = name.as_ref();
    items.into_iter().sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn generics_with_where_clauses() {
    assert_eq!(sum("a", vec![1_u32, 2, 3]).await, 6);
    assert_eq!(sum("a", vec![100_u32]).await, 6, "hit");
    assert_eq!(sum(String::from("b"), vec![1.5_f64, 2.0]).await, 3.5);
    assert_eq!(runs(&GENERIC_RUNS), 2);
}

// --- recursion through a boxed Send future ---------------------------------------------

static RECURSIVE: LazyLock<Cache> = LazyLock::new(Cache::new);
static FIB_RUNS: AtomicUsize = AtomicUsize::new(0);

fn fib_boxed(n: u64) -> Pin<Box<dyn Future<Output = u64> + Send>> {
    Box::pin(fib(n))
}

#[async_cached(locator = format!("fib/{n}"), version = 0_u8, cache = &RECURSIVE)]
async fn fib(n: u64) -> u64 {
    FIB_RUNS.fetch_add(1, SeqCst);
    if n < 2 {
        n
    } else {
        fib_boxed(n - 1).await + fib_boxed(n - 2).await
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recursion_through_a_boxed_future() {
    assert_eq!(fib(40).await, 102_334_155);
    assert_eq!(runs(&FIB_RUNS), 41, "each n generated once");
    assert_eq!(fib(40).await, 102_334_155);
    assert_eq!(runs(&FIB_RUNS), 41);
}

// --- the global cache, mutable and destructured arguments --------------------------------

static GLOBAL_RUNS: AtomicUsize = AtomicUsize::new(0);

#[async_cached(locator = format!("global/{}/{}", a, b), version = 1_u8)]
async fn on_the_global((a, b): (u8, u8), mut scale: u32) -> u32 {
    GLOBAL_RUNS.fetch_add(1, SeqCst);
    scale += 1;
    (u32::from(a) + u32::from(b)) * scale
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn global_cache_and_patterns() {
    let before: Stats = async_cache_runtime::global().stats();
    assert_eq!(on_the_global((1, 2), 1).await, 6);
    assert_eq!(on_the_global((1, 2), 9).await, 6, "hit");
    assert_eq!(runs(&GLOBAL_RUNS), 1);
    let after = async_cache_runtime::global().stats();
    assert_eq!(after.misses - before.misses, 1);
}

// --- own only what is still borrowed ------------------------------------------------------

static OWNING: LazyLock<Cache> = LazyLock::new(Cache::new);
static OWNING_RUNS: AtomicUsize = AtomicUsize::new(0);

/// `Display` but not `Clone`.
struct Name(&'static str);

impl std::fmt::Display for Name {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.0)
    }
}

/// Not `Clone` either: its version is copied out of it.
struct Revision {
    number: u64,
}

// The locator is an owned `String` once `format!` has run: `x` is moved into the
// generation, so it needs no `Clone`.
#[async_cached(locator = format!("g/{x}"), version = 1u64, cache = &OWNING)]
async fn generic_display<T: std::fmt::Display + Send + Sync + 'static>(x: T) -> String {
    OWNING_RUNS.fetch_add(1, SeqCst);
    format!("<{x}>")
}

#[async_cached(locator = x.to_string(), version = revision.number, cache = &OWNING)]
async fn impl_display(
    x: impl std::fmt::Display + Send + Sync + 'static,
    revision: Revision,
) -> String {
    OWNING_RUNS.fetch_add(1, SeqCst);
    format!("<{x}> at {}", revision.number)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn arguments_an_owned_locator_names_need_no_clone() {
    assert_eq!(generic_display(Name("a")).await, "<a>", "miss");
    assert_eq!(generic_display(Name("a")).await, "<a>", "hit");
    assert_eq!(generic_display(7_u8).await, "<7>", "another locator");
    assert_eq!(runs(&OWNING_RUNS), 2);

    let at = |number| Revision { number };
    assert_eq!(impl_display(Name("b"), at(1)).await, "<b> at 1", "miss");
    assert_eq!(impl_display(Name("b"), at(1)).await, "<b> at 1", "hit");
    assert_eq!(runs(&OWNING_RUNS), 3);
    assert_eq!(impl_display(Name("b"), at(2)).await, "<b> at 1", "stale");
    OWNING.wait_for_refreshes().await;
    assert_eq!(
        impl_display(Name("b"), at(2)).await,
        "<b> at 2",
        "refreshed with the moved arguments"
    );
    assert_eq!(runs(&OWNING_RUNS), 4);
}

static KEY_CLONES: AtomicUsize = AtomicUsize::new(0);

/// A key that counts its clones.
struct Key(String);

impl Clone for Key {
    fn clone(&self) -> Self {
        KEY_CLONES.fetch_add(1, SeqCst);
        Key(self.0.clone())
    }
}

impl AsRef<str> for Key {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

// A place locator is borrowed: the body's `key` is a clone made only when a
// generation runs.
#[async_cached(locator = key, version = 1_u8, cache = &OWNING)]
async fn by_key(key: Key) -> usize {
    key.0.len()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_borrowed_locator_copies_nothing_on_a_hit() {
    let key = || Key("by_key".to_owned());
    assert_eq!(by_key(key()).await, 6);
    assert_eq!(KEY_CLONES.load(SeqCst), 1, "cloned for the miss");
    assert_eq!(by_key(key()).await, 6);
    assert_eq!(by_key(key()).await, 6);
    assert_eq!(KEY_CLONES.load(SeqCst), 1, "hits copy nothing");
}

static SHADOWED: LazyLock<Cache> = LazyLock::new(Cache::new);
static SHADOWED_RUNS: AtomicUsize = AtomicUsize::new(0);

// The body only shadows `name`, so the generation does not take it: an `Rc` (not
// `Send`) is fine.
#[async_cached(locator = format!("shadowed/{name}"), version = 1_u8, cache = &SHADOWED)]
async fn shadowed(name: std::rc::Rc<str>, n: usize) -> usize {
    SHADOWED_RUNS.fetch_add(1, SeqCst);
    let name = n * 2;
    let double = |name: usize| name * 2;
    double(name)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_argument_the_body_shadows_is_not_taken() {
    assert_eq!(shadowed("a".into(), 1).await, 4);
    assert_eq!(shadowed("a".into(), 5).await, 4, "hit");
    assert_eq!(shadowed("b".into(), 5).await, 20);
    assert_eq!(runs(&SHADOWED_RUNS), 2);
}
