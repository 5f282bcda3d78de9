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
    pub(crate) fingerprint: u64,
}

impl FetchOptions {
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
    /// schedules. An expired entry is a miss.
    pub fn expires_in(mut self, ttl: Duration) -> Self {
        self.expires_in = Some(ttl);
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
