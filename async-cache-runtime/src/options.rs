//! Per-call options ([`FetchOptions`]): what one fetch overrides of the cache's
//! defaults.

use std::time::Duration;

/// Per-call options of [`Cache::fetch_with`](crate::Cache::fetch_with) and
/// [`Cache::try_fetch_with`](crate::Cache::try_fetch_with).
///
/// ```
/// use std::time::Duration;
/// use async_cache_runtime::FetchOptions;
///
/// // An editor sees their own edit at once; what this call writes expires in an hour.
/// let options = FetchOptions::new()
///     .force_sync(true)
///     .expires_in(Duration::from_secs(3600));
/// # let _ = options;
/// ```
#[derive(Clone, Debug, Default)]
pub struct FetchOptions {
    pub(crate) force_sync: bool,
    pub(crate) expires_in: Option<Duration>,
    pub(crate) refresh_after: Option<Duration>,
    pub(crate) fail_safe: Option<Duration>,
    pub(crate) soft_timeout: Option<Duration>,
    pub(crate) fingerprint: u64,
}

impl FetchOptions {
    /// The options of a call that sets none, for calls that take none.
    pub(crate) const NONE: FetchOptions = FetchOptions {
        force_sync: false,
        expires_in: None,
        refresh_after: None,
        fail_safe: None,
        soft_timeout: None,
        fingerprint: 0,
    };

    /// The defaults: stale entries are served while refreshed in the background, and
    /// what is written never expires by time (only by capacity or invalidation).
    pub fn new() -> Self {
        Self::default()
    }

    /// Regenerate an outdated entry in the caller instead of serving it stale (the
    /// caller joins a background refresh of that version if one is already running).
    /// Useful where a user must see their own change at once, e.g. in a CMS preview.
    pub fn force_sync(mut self, yes: bool) -> Self {
        self.force_sync = yes;
        self
    }

    /// Hard expiry of what this call writes, including a background refresh that it
    /// schedules (overrides [`CacheBuilder::expires_in`](crate::CacheBuilder::expires_in)).
    /// An expired entry is a miss, or a fallback under [`fail_safe`](Self::fail_safe).
    pub fn expires_in(mut self, ttl: Duration) -> Self {
        self.expires_in = Some(ttl);
        self
    }

    /// For this call, an entry at least `age` old is stale even at a current version:
    /// served at once and refreshed in the background (overrides
    /// [`CacheBuilder::refresh_after`](crate::CacheBuilder::refresh_after)).
    ///
    /// ```
    /// use std::time::Duration;
    /// use async_cache_runtime::{Cache, FetchOptions};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let cache = Cache::new();
    /// let rates = FetchOptions::new().refresh_after(Duration::from_secs(60));
    /// // No version to compare: the age decides.
    /// let eur = cache.fetch_with("rates/eur", (), rates, || async { 1.08 }).await;
    /// assert_eq!(eur, 1.08);
    /// # }
    /// ```
    pub fn refresh_after(mut self, age: Duration) -> Self {
        self.refresh_after = Some(age);
        self
    }

    /// What this call writes stays a fallback for `max` past its expiry, and this
    /// call is answered with a fallback when its generation fails (overrides
    /// [`CacheBuilder::fail_safe`](crate::CacheBuilder::fail_safe)).
    pub fn fail_safe(mut self, max: Duration) -> Self {
        self.fail_safe = Some(max);
        self
    }

    /// A generation in this call that has a fallback answers with it after `d`; the
    /// generation goes on and lands later (overrides
    /// [`CacheBuilder::soft_timeout`](crate::CacheBuilder::soft_timeout)).
    pub fn soft_timeout(mut self, d: Duration) -> Self {
        self.soft_timeout = Some(d);
        self
    }

    /// A hash of the code that generates the value (the attribute passes one): an
    /// entry written by other code is outdated whatever its version. `0` means none.
    #[doc(hidden)]
    pub fn fingerprint(mut self, fingerprint: u64) -> Self {
        self.fingerprint = fingerprint;
        self
    }
}

/// The cache's defaults for what a call does not set (contract §6).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Defaults {
    pub(crate) expires_in: Option<Duration>,
    pub(crate) refresh_after: Option<Duration>,
    pub(crate) fail_safe: Option<Duration>,
    pub(crate) soft_timeout: Option<Duration>,
    pub(crate) fail_safe_throttle: Duration,
    pub(crate) refresh_backoff: Option<(Duration, Duration)>,
}

/// How long a fallback, once served, answers the callers that would generate, unless
/// [`CacheBuilder::fail_safe_throttle`](crate::CacheBuilder::fail_safe_throttle) says
/// otherwise.
pub const DEFAULT_FAIL_SAFE_THROTTLE: Duration = Duration::from_secs(30);

impl Default for Defaults {
    fn default() -> Self {
        Defaults {
            expires_in: None,
            refresh_after: None,
            fail_safe: None,
            soft_timeout: None,
            fail_safe_throttle: DEFAULT_FAIL_SAFE_THROTTLE,
            refresh_backoff: None,
        }
    }
}

impl Defaults {
    /// A call's options, each unset one taken from the defaults.
    pub(crate) fn apply(&self, call: &FetchOptions) -> FetchOptions {
        FetchOptions {
            force_sync: call.force_sync,
            expires_in: call.expires_in.or(self.expires_in),
            refresh_after: call.refresh_after.or(self.refresh_after),
            fail_safe: call.fail_safe.or(self.fail_safe),
            soft_timeout: call.soft_timeout.or(self.soft_timeout),
            fingerprint: call.fingerprint,
        }
    }
}
