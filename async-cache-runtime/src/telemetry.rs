//! What the cache tells an operator beyond [`Stats`](crate::Stats): metrics through the
//! `metrics` facade (feature `metrics`) and the `async_cache.generate` span around
//! every generator run. The names, labels and span fields are part of the contract
//! (section 8 of the crate docs' contract: dashboards depend on them).
//!
//! Every counter moves in [`Counters`](crate::stats::Counters), next to the `Stats`
//! atomic it mirrors, so the two cannot drift apart.

#[cfg(feature = "metrics")]
pub(crate) mod metrics;
pub(crate) mod spans;

/// Why a generator ran: the `kind` label of `async_cache_generation_seconds` and the
/// `kind` field of the span.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    /// No usable entry: generated in the caller.
    Miss,
    /// An outdated entry regenerated in the caller.
    Sync,
    /// A background refresh.
    Refresh,
}

impl Kind {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Kind::Miss => "miss",
            Kind::Sync => "sync",
            Kind::Refresh => "refresh",
        }
    }
}

/// How a background refresh ended (or why it never ran): the `outcome` label of
/// `async_cache_refreshes_total`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Refresh {
    Started,
    Completed,
    Failed,
    Dropped,
    /// Held back by the refresh back-off (issue 12 brings the event and its `Stats`
    /// field; the series exists already so dashboards can be drawn).
    #[allow(dead_code)]
    BackedOff,
    Elsewhere,
}
