//! Configuring a cache ([`CacheBuilder`]): the settings every store shares, and
//! handing each store the settings it reads. The shared tier's builder
//! methods live beside the shared tier, in `store/redis/builder.rs`.

use std::fmt;
use std::time::Duration;

use tokio::runtime::Handle;

use crate::Cache;
use crate::options::Defaults;
use crate::store::sealed::BackendPriv;
use crate::store::{Backend, Memory, StoreSettings};

/// Entries kept in memory unless [`CacheBuilder::max_capacity`] says otherwise.
pub const DEFAULT_MAX_CAPACITY: u64 = 10_000;
/// Background refreshes run at once unless [`CacheBuilder::refresh_concurrency`] says
/// otherwise.
pub const DEFAULT_REFRESH_CONCURRENCY: usize = 8;
/// Refreshes that may wait for a running place unless
/// [`CacheBuilder::refresh_queue_capacity`] says otherwise.
pub const DEFAULT_REFRESH_QUEUE_CAPACITY: usize = 1024;

/// The name of a cache unless [`CacheBuilder::name`] says otherwise.
pub const DEFAULT_NAME: &str = "default";

/// What the builder collects for every store.
#[derive(Clone, Debug)]
pub(crate) struct Settings {
    pub(crate) max_capacity: u64,
    pub(crate) refresh_concurrency: usize,
    pub(crate) refresh_queue_capacity: usize,
    pub(crate) refresh_timeout: Option<Duration>,
    pub(crate) runtime: Option<Handle>,
    pub(crate) defaults: Defaults,
    pub(crate) name: String,
}

/// Configures a [`Cache`]; made by [`Cache::builder`].
///
/// ```
/// use async_cache_runtime::Cache;
///
/// let cache = Cache::builder()
///     .max_capacity(50_000)
///     .refresh_concurrency(4)
///     .refresh_queue_capacity(256)
///     .build();
/// # drop(cache);
/// ```
pub struct CacheBuilder<S: Backend = Memory> {
    pub(crate) settings: Settings,
    pub(crate) store: <S as BackendPriv>::Config,
}

impl CacheBuilder<Memory> {
    pub(crate) fn new() -> Self {
        CacheBuilder {
            settings: Settings {
                max_capacity: DEFAULT_MAX_CAPACITY,
                refresh_concurrency: DEFAULT_REFRESH_CONCURRENCY,
                refresh_queue_capacity: DEFAULT_REFRESH_QUEUE_CAPACITY,
                refresh_timeout: None,
                runtime: None,
                defaults: Defaults::default(),
                name: DEFAULT_NAME.to_owned(),
            },
            store: (),
        }
    }
}

impl<S: Backend> CacheBuilder<S> {
    /// The most entries kept in memory (default [`DEFAULT_MAX_CAPACITY`]); past it
    /// moka evicts the least likely to be used again.
    pub fn max_capacity(mut self, entries: u64) -> Self {
        self.settings.max_capacity = entries;
        self
    }

    /// How many background refreshes run at once (default
    /// [`DEFAULT_REFRESH_CONCURRENCY`]). `0` means no background worker: outdated
    /// entries are regenerated in the caller.
    pub fn refresh_concurrency(mut self, n: usize) -> Self {
        self.settings.refresh_concurrency = n;
        self
    }

    /// How many refreshes may wait for a running place (default
    /// [`DEFAULT_REFRESH_QUEUE_CAPACITY`]). When running and waiting places are all
    /// taken, a stale read still serves the stale value and its refresh is dropped
    /// (counted in [`Stats::refreshes_dropped`](crate::Stats::refreshes_dropped)); a
    /// later stale read tries again.
    pub fn refresh_queue_capacity(mut self, n: usize) -> Self {
        self.settings.refresh_queue_capacity = n;
        self
    }

    /// The longest a background refresh may run (default: no limit). One that takes
    /// longer is abandoned, counted in
    /// [`Stats::refreshes_failed`](crate::Stats::refreshes_failed) and logged; the stale
    /// entry stays, its claim and running place are freed, callers that joined it
    /// generate for themselves, and a later stale read tries again. Without it, a
    /// generator that never finishes holds its locator's refresh and one running place
    /// for good. Uses tokio's timer: the runtime refreshes run on must enable time (as
    /// `#[tokio::main]` does), or every refresh fails.
    ///
    /// ```
    /// use std::time::Duration;
    /// use async_cache_runtime::Cache;
    ///
    /// let cache = Cache::builder().refresh_timeout(Duration::from_secs(30)).build();
    /// # drop(cache);
    /// ```
    pub fn refresh_timeout(mut self, limit: Duration) -> Self {
        self.settings.refresh_timeout = Some(limit);
        self
    }

    /// Entries at least `age` old are stale even at a current version: served at once
    /// and refreshed in the background, once (contract §6.1). A call's
    /// [`FetchOptions::refresh_after`](crate::FetchOptions::refresh_after) overrides it.
    /// With [`expires_in`](Self::expires_in) as well, a hot entry is refreshed before
    /// it expires and a cold one expires.
    ///
    /// ```
    /// use std::time::Duration;
    /// use async_cache_runtime::Cache;
    ///
    /// let cache = Cache::builder()
    ///     .refresh_after(Duration::from_secs(60))
    ///     .expires_in(Duration::from_secs(600))
    ///     .build();
    /// # drop(cache);
    /// ```
    pub fn refresh_after(mut self, age: Duration) -> Self {
        self.settings.defaults.refresh_after = Some(age);
        self
    }

    /// The default hard expiry of what is written; a call's
    /// [`FetchOptions::expires_in`](crate::FetchOptions::expires_in) overrides it.
    pub fn expires_in(mut self, ttl: Duration) -> Self {
        self.settings.defaults.expires_in = Some(ttl);
        self
    }

    /// Keeps expired entries for up to `max` more as *fallbacks*, and answers a caller
    /// whose generation fails with the fallback instead of the error or panic
    /// (`Served::FailSafe`, counted in
    /// [`Stats::fail_safe_hits`](crate::Stats::fail_safe_hits)); an outdated entry is
    /// a fallback too (contract §6.2).
    ///
    /// ```
    /// use std::time::Duration;
    /// use async_cache_runtime::{Cache, FetchOptions, Served};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let cache = Cache::builder().fail_safe(Duration::from_secs(3600)).build();
    /// cache.fetch("page", 1, || async { "v1" }).await;
    /// // The database is down: version 2 cannot be made, version 1 is served.
    /// let (page, served) = cache
    ///     .try_fetch_served("page", 2, FetchOptions::new().force_sync(true), || async {
    ///         Err::<&str, _>("database down")
    ///     })
    ///     .await
    ///     .unwrap();
    /// assert_eq!((page, served), ("v1", Served::FailSafe));
    /// # }
    /// ```
    pub fn fail_safe(mut self, max: Duration) -> Self {
        self.settings.defaults.fail_safe = Some(max);
        self
    }

    /// After a fallback is served for a failed generation, every fetch of that locator
    /// that would generate in the caller is answered with the fallback for `d`
    /// (default [`DEFAULT_FAIL_SAFE_THROTTLE`](crate::DEFAULT_FAIL_SAFE_THROTTLE)), so
    /// that a dead backend is not hammered; `force_sync` callers still generate, and a
    /// value stored under the locator closes it.
    pub fn fail_safe_throttle(mut self, d: Duration) -> Self {
        self.settings.defaults.fail_safe_throttle = d;
        self
    }

    /// A caller waiting on a slow generation that has a fallback is answered with it
    /// after `d` (`Served::FailSafe`, counted in
    /// [`Stats::soft_timeouts`](crate::Stats::soft_timeouts)); the generation goes on
    /// and lands later (contract §6.3). Never for `force_sync` callers.
    pub fn soft_timeout(mut self, d: Duration) -> Self {
        self.settings.defaults.soft_timeout = Some(d);
        self
    }

    /// After a background refresh of a locator fails, its stale reads serve the stale
    /// value without scheduling another for `first`, doubling with each consecutive
    /// failure up to `max` (counted in
    /// [`Stats::refreshes_backed_off`](crate::Stats::refreshes_backed_off)); a
    /// successful refresh resets it (contract §6.4).
    pub fn refresh_backoff(mut self, first: Duration, max: Duration) -> Self {
        self.settings.defaults.refresh_backoff = Some((first, max.max(first)));
        self
    }

    /// The runtime background refreshes run on: one that someone drives. Without it
    /// they run on the caller's current tokio runtime, and a caller outside any tokio
    /// runtime regenerates outdated entries itself. Once this runtime shuts down, the
    /// cache has no worker and regenerates in the caller.
    pub fn runtime(mut self, handle: Handle) -> Self {
        self.settings.runtime = Some(handle);
        self
    }

    /// The cache's name (default [`DEFAULT_NAME`]): the `cache` label of its metrics
    /// (feature `metrics`) and the `cache` field of its `async_cache.generate` spans.
    /// Caches given the same name share metric series, whose values then add up.
    ///
    /// The metric handles are registered with the `metrics` recorder installed when
    /// the cache is built: install the exporter first.
    ///
    /// ```
    /// use async_cache_runtime::Cache;
    ///
    /// let pages = Cache::builder().name("pages").build();
    /// # drop(pages);
    /// ```
    pub fn name(mut self, name: &str) -> Self {
        self.settings.name = name.to_owned();
        self
    }

    /// Builds the cache. Never blocks and never connects: a store that needs a
    /// connection makes it on first use.
    pub fn build(self) -> Cache<S> {
        let store = S::build(
            StoreSettings {
                max_capacity: self.settings.max_capacity,
                runtime: self.settings.runtime.clone(),
            },
            self.store,
        );
        Cache::from_parts(store, self.settings)
    }
}

impl<S: Backend> fmt::Debug for CacheBuilder<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CacheBuilder")
            .field("settings", &self.settings)
            .field("store", &self.store)
            .finish()
    }
}
