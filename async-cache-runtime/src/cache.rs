//! The public face of the cache: its methods and their documentation. What they do
//! is in `engine`.

use std::convert::Infallible;
use std::fmt;
use std::future::Future;
use std::sync::Arc;

use futures_util::FutureExt;

use crate::builder::{CacheBuilder, Settings};
use crate::engine::Engine;
use crate::stats::Counters;
use crate::store::{Backend, Memory, Store};
use crate::worker::Worker;
use crate::{FetchOptions, Served, Stats};

/// A version-based stale-while-revalidate cache.
///
/// Clones are cheap and share one cache. One cache holds entries of any value and
/// version types: an entry stored under a locator with other types than a caller's is
/// a miss for that caller, and is overwritten.
///
/// `S` is the store: [`Memory`] (the default), or with the `redis` feature the shared
/// tier, whose fetches also need serde.
///
/// ```
/// use async_cache_runtime::Cache;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let cache = Cache::new();
/// // No entry: generated now.
/// let v1 = cache.fetch("things/1", 1, || async { "made at version 1" }).await;
/// // Version 2 is newer: version 1 is served at once, version 2 made in the background.
/// let stale = cache.fetch("things/1", 2, || async { "made at version 2" }).await;
/// assert_eq!((v1, stale), ("made at version 1", "made at version 1"));
/// cache.wait_for_refreshes().await;
/// let fresh = cache.fetch("things/1", 2, || async { "not run: current" }).await;
/// assert_eq!(fresh, "made at version 2");
/// # }
/// ```
pub struct Cache<S: Backend = Memory> {
    engine: Arc<Engine<S>>,
}

impl Cache {
    /// An in-memory cache with the defaults of [`CacheBuilder`].
    pub fn new() -> Self {
        Self::builder().build()
    }

    /// Configures a cache.
    pub fn builder() -> CacheBuilder {
        CacheBuilder::new()
    }
}

impl Default for Cache {
    fn default() -> Self {
        Self::new()
    }
}

impl<S: Backend> Clone for Cache<S> {
    fn clone(&self) -> Self {
        Cache {
            engine: self.engine.clone(),
        }
    }
}

impl<S: Backend> fmt::Debug for Cache<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Cache")
            .field("stats", &self.stats())
            .finish_non_exhaustive()
    }
}

impl<S: Backend> Cache<S> {
    pub(crate) fn from_parts(store: S, settings: Settings) -> Self {
        let counters = Arc::new(Counters::new(&settings.name));
        let worker = Worker::new(
            settings.runtime,
            settings.refresh_concurrency,
            settings.refresh_queue_capacity,
            settings.refresh_timeout,
        );
        Cache {
            engine: Arc::new(Engine::new(store, worker, counters, settings.defaults)),
        }
    }

    /// The value stored under `locator`, made by `generate` when none is usable.
    ///
    /// What it does with the stored entry (serve it, serve it stale and refresh it in
    /// the background, or generate in the caller) is the strategy table of the
    /// [crate docs, section 1](crate#1-the-model); the guarantees it keeps are section 2.
    ///
    /// `generate` is called only when a generation may run: in the caller, to make the
    /// future a background refresh runs, or for a trailing refresh (contract §6.5) that
    /// a newer read may still replace or an invalidation void before it runs. So it may
    /// borrow and clone lazily; the future it returns must own what it uses. A panic in `generate` resumes in
    /// this caller; nothing is cached.
    pub async fn fetch<V, T, G, Fut>(&self, locator: impl AsRef<str>, version: V, generate: G) -> T
    where
        S: Store<V, T>,
        V: Ord + Clone + Send + Sync + 'static,
        T: Clone + Send + Sync + 'static,
        G: FnOnce() -> Fut + Send,
        Fut: Future<Output = T> + Send + 'static,
    {
        // Straight to the engine with the options of no call: no options to copy
        // into this future, no future between.
        let fetched = self.engine.fetch(
            locator.as_ref(),
            version,
            &FetchOptions::NONE,
            infallible(generate),
        );
        never(fetched.await.0)
    }

    /// [`fetch`](Cache::fetch) with per-call options.
    pub async fn fetch_with<V, T, G, Fut>(
        &self,
        locator: impl AsRef<str>,
        version: V,
        options: FetchOptions,
        generate: G,
    ) -> T
    where
        S: Store<V, T>,
        V: Ord + Clone + Send + Sync + 'static,
        T: Clone + Send + Sync + 'static,
        G: FnOnce() -> Fut + Send,
        Fut: Future<Output = T> + Send + 'static,
    {
        let fetched = self
            .engine
            .fetch(locator.as_ref(), version, &options, infallible(generate));
        never(fetched.await.0)
    }

    /// [`fetch_with`](Cache::fetch_with), also saying how the value was served.
    ///
    /// ```
    /// use async_cache_runtime::{Cache, FetchOptions, Served};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let cache = Cache::new();
    /// let (_, served) = cache
    ///     .fetch_served("k", 1, FetchOptions::new(), || async { 1 })
    ///     .await;
    /// assert_eq!(served, Served::Miss);
    /// # }
    /// ```
    pub async fn fetch_served<V, T, G, Fut>(
        &self,
        locator: impl AsRef<str>,
        version: V,
        options: FetchOptions,
        generate: G,
    ) -> (T, Served)
    where
        S: Store<V, T>,
        V: Ord + Clone + Send + Sync + 'static,
        T: Clone + Send + Sync + 'static,
        G: FnOnce() -> Fut + Send,
        Fut: Future<Output = T> + Send + 'static,
    {
        let fetched = self
            .engine
            .fetch(locator.as_ref(), version, &options, infallible(generate));
        let (result, served) = fetched.await;
        (never(result), served)
    }

    /// Like [`fetch`](Cache::fetch) for a fallible generator: only `Ok` values are
    /// cached, and an `Err` from a generation run for this caller is returned to it.
    /// A background refresh that fails keeps the stale entry.
    pub async fn try_fetch<V, T, E, G, Fut>(
        &self,
        locator: impl AsRef<str>,
        version: V,
        generate: G,
    ) -> Result<T, E>
    where
        S: Store<V, T>,
        V: Ord + Clone + Send + Sync + 'static,
        T: Clone + Send + Sync + 'static,
        E: Send + 'static,
        G: FnOnce() -> Fut + Send,
        Fut: Future<Output = Result<T, E>> + Send + 'static,
    {
        self.engine
            .fetch(locator.as_ref(), version, &FetchOptions::NONE, generate)
            .await
            .0
    }

    /// [`try_fetch`](Cache::try_fetch) with per-call options.
    pub async fn try_fetch_with<V, T, E, G, Fut>(
        &self,
        locator: impl AsRef<str>,
        version: V,
        options: FetchOptions,
        generate: G,
    ) -> Result<T, E>
    where
        S: Store<V, T>,
        V: Ord + Clone + Send + Sync + 'static,
        T: Clone + Send + Sync + 'static,
        E: Send + 'static,
        G: FnOnce() -> Fut + Send,
        Fut: Future<Output = Result<T, E>> + Send + 'static,
    {
        let fetched = self
            .engine
            .fetch(locator.as_ref(), version, &options, generate);
        fetched.await.0
    }

    /// [`try_fetch_with`](Cache::try_fetch_with), also saying how the value was served.
    pub async fn try_fetch_served<V, T, E, G, Fut>(
        &self,
        locator: impl AsRef<str>,
        version: V,
        options: FetchOptions,
        generate: G,
    ) -> Result<(T, Served), E>
    where
        S: Store<V, T>,
        V: Ord + Clone + Send + Sync + 'static,
        T: Clone + Send + Sync + 'static,
        E: Send + 'static,
        G: FnOnce() -> Fut + Send,
        Fut: Future<Output = Result<T, E>> + Send + 'static,
    {
        let (result, served) = self
            .engine
            .fetch(locator.as_ref(), version, &options, generate)
            .await;
        result.map(|value| (value, served))
    }

    /// Removes the entry of `locator`. A generation or refresh of it already running
    /// still answers its callers, but its result is not stored.
    pub async fn invalidate(&self, locator: impl AsRef<str>) {
        self.engine.invalidate(locator.as_ref()).await;
    }

    /// Stores `value`, made elsewhere (say, rendered right after an edit), as the entry
    /// of `locator` at `version`, with the cache's default options. It replaces an
    /// entry of an equal (a newer make) or older version, never a newer one; a
    /// generation of an older version still running is then discarded when it lands.
    /// Returns whether it was stored. A stored value closes the locator's fail-safe
    /// throttle and clears an [`expire`](Cache::expire) mark.
    ///
    /// ```
    /// use async_cache_runtime::Cache;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let cache = Cache::new();
    /// assert!(cache.put("things/1", 2_u64, "rendered after the edit").await);
    /// assert!(!cache.put("things/1", 1_u64, "a lagging writer").await, "never a downgrade");
    /// let page = cache.fetch("things/1", 2_u64, || async { "not run" }).await;
    /// assert_eq!(page, "rendered after the edit");
    /// # }
    /// ```
    pub async fn put<V, T>(&self, locator: impl AsRef<str>, version: V, value: T) -> bool
    where
        S: Store<V, T>,
        V: Ord + Clone + Send + Sync + 'static,
        T: Clone + Send + Sync + 'static,
    {
        self.put_with(locator, version, FetchOptions::new(), value)
            .await
    }

    /// [`put`](Cache::put) with the options it writes with (`expires_in`,
    /// `fail_safe`).
    pub async fn put_with<V, T>(
        &self,
        locator: impl AsRef<str>,
        version: V,
        options: FetchOptions,
        value: T,
    ) -> bool
    where
        S: Store<V, T>,
        V: Ord + Clone + Send + Sync + 'static,
        T: Clone + Send + Sync + 'static,
    {
        self.engine
            .put(locator.as_ref(), version, value, &options)
            .await
    }

    /// Marks the entry of `locator` outdated for every requested version, and keeps it
    /// as a fallback until its own expiry plus its `fail_safe`: it is served stale and
    /// refreshed (or regenerated in the caller without a worker), as any outdated
    /// entry. Its refresh may store the same version; a refresh of an older version is
    /// discarded, so the mark stays until a caller of at least the stored version
    /// refreshes it. Running generations are not discarded. A missing locator: nothing
    /// happens. [`invalidate`](Cache::invalidate), by contrast, removes.
    pub async fn expire(&self, locator: impl AsRef<str>) {
        self.engine.expire(locator.as_ref()).await;
    }

    /// Removes every entry, with the same effect on running generations as
    /// [`invalidate`](Cache::invalidate).
    pub fn invalidate_all(&self) {
        self.engine.invalidate_all();
    }

    /// Resolves once no background refresh is queued or running: tests await it
    /// instead of sleeping, and servers to drain on shutdown.
    pub async fn wait_for_refreshes(&self) {
        self.engine.worker.idle().await;
    }

    /// The counters so far.
    pub fn stats(&self) -> Stats {
        self.engine.counters.snapshot()
    }
}

/// A generation that cannot fail, as the engine runs them.
type Infallibly<Fut, T> = futures_util::future::Map<Fut, fn(T) -> Result<T, Infallible>>;

/// An infallible generator as the engine's fallible kind.
#[inline]
fn infallible<T, G, Fut>(generate: G) -> impl FnOnce() -> Infallibly<Fut, T>
where
    G: FnOnce() -> Fut,
    Fut: Future<Output = T>,
{
    || generate().map(Ok as fn(T) -> Result<T, Infallible>)
}

/// The value of a fetch whose generator cannot fail.
#[inline]
fn never<T>(result: Result<T, Infallible>) -> T {
    match result {
        Ok(value) => value,
        Err(never) => match never {},
    }
}
