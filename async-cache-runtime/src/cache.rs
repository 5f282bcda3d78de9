use std::any::type_name;
use std::convert::Infallible;
use std::fmt;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::Duration;

use futures_util::FutureExt;
use tokio::runtime::Handle;

use crate::builder::{CacheBuilder, Settings};
use crate::decision::{Action, Stored, decide};
use crate::flights::{Claim, Flights, Lead};
use crate::refresh::{Refresher, Slot};
use crate::stats::Counters;
use crate::store::{Backend, Memory, Record, Store};
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
    inner: Arc<Inner<S>>,
}

struct Inner<S> {
    store: S,
    flights: Arc<Flights>,
    refresher: Arc<Refresher>,
    counters: Arc<Counters>,
}

/// How a caller that had to generate was answered.
enum InCaller<T, E> {
    /// By a generation: its own, or one it joined.
    Generated(Result<T, E>),
    /// By the store: another caller's generation landed just before its own began.
    Stored(T),
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
            inner: self.inner.clone(),
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
    pub(crate) fn from_store(store: S, settings: &Settings) -> Self {
        Cache {
            inner: Arc::new(Inner {
                store,
                flights: Flights::new(),
                refresher: Refresher::new(settings),
                counters: Arc::default(),
            }),
        }
    }

    /// The value stored under `locator`, made by `generate` when none is usable.
    ///
    /// | stored entry | requested vs stored version | action | caller gets |
    /// | --- | --- | --- | --- |
    /// | none, expired or of other types | - | run `generate` now, store | fresh value |
    /// | present | requested <= stored | nothing | stored value |
    /// | present | requested > stored | schedule one background refresh | stored value, at once |
    ///
    /// With no worker (no tokio runtime reachable, or
    /// [`refresh_concurrency(0)`](CacheBuilder::refresh_concurrency)) an outdated
    /// entry is regenerated in the caller instead.
    ///
    /// Concurrent callers of one missing locator run `generate` once. `generate` is
    /// called only when a generation actually runs (in the caller, or to make the
    /// future a background refresh runs), so it may borrow and clone lazily; the
    /// future it returns must own what it uses. A panic in `generate` resumes in this
    /// caller; nothing is cached.
    pub async fn fetch<V, T, G, Fut>(&self, locator: impl AsRef<str>, version: V, generate: G) -> T
    where
        S: Store<V, T>,
        V: Ord + Clone + Send + Sync + 'static,
        T: Clone + Send + Sync + 'static,
        G: FnOnce() -> Fut + Send,
        Fut: Future<Output = T> + Send + 'static,
    {
        self.fetch_served(locator, version, FetchOptions::new(), generate)
            .await
            .0
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
        self.fetch_served(locator, version, options, generate)
            .await
            .0
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
        let generate = || generate().map(Ok::<T, Infallible>);
        match self
            .run(locator.as_ref(), version, &options, generate)
            .await
        {
            (Ok(value), served) => (value, served),
            (Err(never), _) => match never {},
        }
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
        self.try_fetch_served(locator, version, FetchOptions::new(), generate)
            .await
            .map(|(value, _)| value)
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
        self.try_fetch_served(locator, version, options, generate)
            .await
            .map(|(value, _)| value)
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
            .run(locator.as_ref(), version, &options, generate)
            .await;
        result.map(|value| (value, served))
    }

    /// Removes the entry of `locator`. A generation or refresh of it already running
    /// still answers its callers, but its result is not stored.
    pub async fn invalidate(&self, locator: impl AsRef<str>) {
        let locator = locator.as_ref();
        self.inner.flights.invalidate(locator);
        if let Err(error) = self.inner.store.remove(locator).await {
            self.store_error(locator, "remove", &error);
        }
    }

    /// Removes every entry, with the same effect on running generations as
    /// [`invalidate`](Cache::invalidate).
    pub fn invalidate_all(&self) {
        self.inner.flights.invalidate_all();
        self.inner.store.clear();
    }

    /// Resolves once no background refresh is queued or running: tests await it
    /// instead of sleeping, and servers to drain on shutdown.
    pub async fn wait_for_refreshes(&self) {
        self.inner.refresher.idle().await;
    }

    /// The counters so far.
    pub fn stats(&self) -> Stats {
        self.inner.counters.snapshot()
    }

    /// The strategy: one pure decision per read of the store, then its machinery.
    async fn run<V, T, E, G, Fut>(
        &self,
        locator: &str,
        version: V,
        options: &FetchOptions,
        generate: G,
    ) -> (Result<T, E>, Served)
    where
        S: Store<V, T>,
        V: Ord + Clone + Send + Sync + 'static,
        T: Clone + Send + Sync + 'static,
        E: Send + 'static,
        G: FnOnce() -> Fut + Send,
        Fut: Future<Output = Result<T, E>> + Send + 'static,
    {
        let counters = &self.inner.counters;
        let mut generate = Some(generate);
        loop {
            let record = self.read(locator).await;
            let stored = match &record {
                None => Stored::Absent,
                Some(r) if r.is_current_for(&version, options.fingerprint) => Stored::Current,
                Some(_) => Stored::Outdated,
            };
            let runtime = match stored {
                Stored::Outdated if !options.force_sync => self.inner.refresher.runtime(),
                _ => None,
            };
            let (served, result) = match (
                decide(stored, runtime.is_some(), options.force_sync),
                record,
            ) {
                (Action::Serve, Some(record)) => {
                    counters.hit();
                    (Served::Hit, Ok(record.value.clone()))
                }
                (Action::ServeStale, Some(record)) => {
                    if let Some(runtime) = runtime {
                        self.refresh_in_background(
                            runtime,
                            locator,
                            &version,
                            options,
                            &mut generate,
                        );
                    }
                    Counters::bump(&counters.stale_hits);
                    (Served::Stale, Ok(record.value.clone()))
                }
                (action, _) => {
                    match self
                        .generate_in_caller(locator, &version, options, &mut generate)
                        .await
                    {
                        // The generation it joined failed: decide again.
                        None => continue,
                        Some(InCaller::Stored(value)) => {
                            counters.hit();
                            (Served::Hit, Ok(value))
                        }
                        Some(InCaller::Generated(result)) if action == Action::Regenerate => {
                            Counters::bump(&counters.sync_refreshes);
                            (Served::Sync, result)
                        }
                        Some(InCaller::Generated(result)) => {
                            Counters::bump(&counters.misses);
                            (Served::Miss, result)
                        }
                    }
                }
            };
            served.record();
            return (result, served);
        }
    }

    async fn read<V, T>(&self, locator: &str) -> Option<Arc<Record<V, T>>>
    where
        S: Store<V, T>,
    {
        match self.inner.store.read(locator).await {
            Ok(record) => record,
            Err(error) => {
                self.store_error(locator, "read", &error);
                None
            }
        }
    }

    /// Runs the generation in this caller, or joins one of the same or a newer version
    /// already running. `None` when the joined one failed.
    async fn generate_in_caller<V, T, E, G, Fut>(
        &self,
        locator: &str,
        version: &V,
        options: &FetchOptions,
        generate: &mut Option<G>,
    ) -> Option<InCaller<T, E>>
    where
        S: Store<V, T>,
        V: Ord + Clone + Send + Sync + 'static,
        T: Clone + Send + Sync + 'static,
        G: FnOnce() -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        match self.inner.flights.lead_or_join::<V, T>(locator, version) {
            Lead::Join(flight) => {
                let result = flight.wait().await?;
                let record = result.downcast::<Record<V, T>>().ok()?;
                Some(InCaller::Generated(Ok(record.value.clone())))
            }
            Lead::Run(claim) => {
                // Another leader may have stored it and left between this caller's
                // read and its claim: then there is nothing to generate.
                if let Some(stored) = self.read::<V, T>(locator).await {
                    if stored.is_current_for(version, options.fingerprint) {
                        let value = stored.value.clone();
                        claim.complete(stored);
                        return Some(InCaller::Stored(value));
                    }
                }
                let generate = generate
                    .take()
                    .expect("a caller leads one generation at most");
                // On `Err` or a panic the claim drops unfinished and the waiters take over.
                let value = match generate().await {
                    Ok(value) => value,
                    Err(error) => return Some(InCaller::Generated(Err(error))),
                };
                let record = Arc::new(Record {
                    version: version.clone(),
                    value,
                    fingerprint: options.fingerprint,
                });
                self.write(&claim, &record, options.expires_in).await;
                let value = record.value.clone();
                claim.complete(record);
                Some(InCaller::Generated(Ok(value)))
            }
        }
    }

    fn refresh_in_background<V, T, E, G, Fut>(
        &self,
        runtime: Handle,
        locator: &str,
        version: &V,
        options: &FetchOptions,
        generate: &mut Option<G>,
    ) where
        S: Store<V, T>,
        V: Ord + Clone + Send + Sync + 'static,
        T: Clone + Send + Sync + 'static,
        E: Send + 'static,
        G: FnOnce() -> Fut,
        Fut: Future<Output = Result<T, E>> + Send + 'static,
    {
        let Some(claim) = self.inner.flights.claim_refresh::<V, T>(locator, version) else {
            return; // one is in flight already
        };
        let Some(slot) = self.inner.refresher.reserve(&self.inner.counters) else {
            Counters::bump(&self.inner.counters.refreshes_dropped);
            tracing::debug!(
                locator,
                "refresh dropped: refresh concurrency and queue are full"
            );
            return;
        };
        let generate = generate
            .take()
            .expect("a caller schedules one refresh at most");
        let future = generate();
        let cache = self.clone();
        let version = version.clone();
        let options = options.clone();
        drop(runtime.spawn(async move {
            cache.refresh(claim, slot, version, options, future).await;
        }));
    }

    async fn refresh<V, T, E, Fut>(
        self,
        claim: Claim,
        mut slot: Slot,
        version: V,
        options: FetchOptions,
        future: Fut,
    ) where
        S: Store<V, T>,
        V: Ord + Clone + Send + Sync + 'static,
        T: Clone + Send + Sync + 'static,
        Fut: Future<Output = Result<T, E>>,
    {
        slot.start().await;
        self.refresh_started(&claim, &mut slot, version, &options, future)
            .await;
        // The claim goes before the slot: once `wait_for_refreshes` sees no refresh,
        // none still stands in the way of the next stale read's.
        drop(claim);
        slot.finish();
    }

    /// A refresh with a running place: takes the store-wide lock, skips if overtaken,
    /// runs.
    async fn refresh_started<V, T, E, Fut>(
        &self,
        claim: &Claim,
        slot: &mut Slot,
        version: V,
        options: &FetchOptions,
        future: Fut,
    ) where
        S: Store<V, T>,
        V: Ord + Clone + Send + Sync + 'static,
        T: Clone + Send + Sync + 'static,
        Fut: Future<Output = Result<T, E>>,
    {
        let counters = &self.inner.counters;
        let locator = claim.locator();
        let lock = match self.inner.store.lock_refresh(locator).await {
            Ok(Some(lock)) => Some(lock),
            Ok(None) => {
                Counters::bump(&counters.refreshes_elsewhere);
                return;
            }
            Err(error) => {
                self.store_error(locator, "lock", &error);
                None
            }
        };
        slot.count_started();
        // Queued behind others, or behind another process, it may have been overtaken:
        // then skip the generator.
        let superseded = match self.read::<V, T>(locator).await {
            Some(stored) => stored.is_current_for(&version, options.fingerprint),
            None => true,
        };
        if superseded || !claim.is_valid() {
            Counters::bump(&counters.refreshes_completed);
        } else {
            self.run_refresh(claim, version, options, future).await;
        }
        if let Some(lock) = lock {
            if let Err(error) = self.inner.store.unlock_refresh(locator, lock).await {
                self.store_error(locator, "unlock", &error);
            }
        }
    }

    async fn run_refresh<V, T, E, Fut>(
        &self,
        claim: &Claim,
        version: V,
        options: &FetchOptions,
        future: Fut,
    ) where
        S: Store<V, T>,
        V: Ord + Clone + Send + Sync + 'static,
        T: Clone + Send + Sync + 'static,
        Fut: Future<Output = Result<T, E>>,
    {
        let counters = &self.inner.counters;
        let locator = claim.locator();
        claim.start();
        let limit = self.inner.refresher.timeout();
        let limited = async {
            match limit {
                Some(limit) => tokio::time::timeout(limit, future).await.ok(),
                None => Some(future.await),
            }
        };
        match AssertUnwindSafe(limited).catch_unwind().await {
            Ok(Some(Ok(value))) => {
                let record = Arc::new(Record {
                    version,
                    value,
                    fingerprint: options.fingerprint,
                });
                self.write(claim, &record, options.expires_in).await;
                claim.complete(record);
                Counters::bump(&counters.refreshes_completed);
            }
            Ok(Some(Err(_))) => {
                Counters::bump(&counters.refreshes_failed);
                tracing::warn!(
                    locator,
                    error_type = type_name::<E>(),
                    "background refresh failed: its generator returned an error; the stale entry stays"
                );
            }
            Ok(None) => {
                Counters::bump(&counters.refreshes_failed);
                tracing::warn!(
                    locator,
                    limit = ?limit,
                    "background refresh timed out and was abandoned; the stale entry stays"
                );
            }
            Err(panic) => {
                Counters::bump(&counters.refreshes_failed);
                let message = panic
                    .downcast_ref::<&str>()
                    .copied()
                    .or_else(|| panic.downcast_ref::<String>().map(String::as_str))
                    .unwrap_or("(not a string)");
                tracing::warn!(
                    locator,
                    panic = message,
                    "background refresh panicked; the stale entry stays"
                );
            }
        }
    }

    /// Stores `record` under the claim's locator, unless the claim was invalidated or
    /// the store holds as new a version: both decided atomically with the write.
    async fn write<V, T>(
        &self,
        claim: &Claim,
        record: &Arc<Record<V, T>>,
        expires_in: Option<Duration>,
    ) where
        S: Store<V, T>,
    {
        let still_valid = || claim.is_valid();
        let locator = claim.locator();
        if let Err(error) = self
            .inner
            .store
            .write(locator, record, expires_in, &still_valid)
            .await
        {
            self.store_error(locator, "write", &error);
        }
    }

    fn store_error(&self, locator: &str, operation: &str, error: &crate::store::StoreError) {
        Counters::bump(&self.inner.counters.store_errors);
        // At debug: a store that goes down logs that once itself, and a warning per
        // access would flood the log while it is down.
        tracing::debug!(locator, operation, %error, "store fault: going on without the store");
    }
}
