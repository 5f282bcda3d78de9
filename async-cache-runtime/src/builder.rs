use std::fmt;
use std::time::Duration;

use tokio::runtime::Handle;

use crate::Cache;
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
