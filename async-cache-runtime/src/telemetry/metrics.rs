//! The metric handles of one cache, registered once when it is built: the hot path
//! then costs one handle increment, with no name or label lookup.

use metrics::{Counter, Gauge, Histogram, Label};

use super::{Kind, Refresh};
use crate::Served;

pub(crate) const FETCHES: &str = "async_cache_fetches_total";
pub(crate) const REFRESHES: &str = "async_cache_refreshes_total";
pub(crate) const STORE_ERRORS: &str = "async_cache_store_errors_total";
pub(crate) const GENERATION: &str = "async_cache_generation_seconds";
pub(crate) const STALE_AGE: &str = "async_cache_stale_age_seconds";
pub(crate) const REFRESH_LAG: &str = "async_cache_refresh_lag_seconds";
pub(crate) const RUNNING: &str = "async_cache_refreshes_running";
pub(crate) const QUEUED: &str = "async_cache_refreshes_queued";

/// Handles bound to the recorder installed when the cache was built (the global one,
/// or a local one around `build`); with none, they do nothing.
pub(crate) struct Handles {
    pub(crate) hit: Counter,
    pub(crate) stale: Counter,
    pub(crate) miss: Counter,
    pub(crate) sync: Counter,
    /// `served=fail_safe`.
    pub(crate) fail_safe: Counter,
    refreshes: [Counter; 6],
    pub(crate) store_errors: Counter,
    generation: [Histogram; 3],
    pub(crate) stale_age: Histogram,
    pub(crate) refresh_lag: Histogram,
    pub(crate) running: Gauge,
    pub(crate) queued: Gauge,
}

impl Handles {
    pub(crate) fn register(cache: &str) -> Self {
        let name = || Label::new("cache", cache.to_owned());
        let fetch = |served: &'static str| {
            metrics::counter!(FETCHES, vec![name(), Label::new("served", served)])
        };
        let refresh = |outcome: Refresh| {
            metrics::counter!(
                REFRESHES,
                vec![name(), Label::new("outcome", outcome_str(outcome))]
            )
        };
        let generation = |kind: Kind| {
            metrics::histogram!(GENERATION, vec![name(), Label::new("kind", kind.as_str())])
        };
        Handles {
            hit: fetch(Served::Hit.as_str()),
            stale: fetch(Served::Stale.as_str()),
            miss: fetch(Served::Miss.as_str()),
            sync: fetch(Served::Sync.as_str()),
            fail_safe: fetch("fail_safe"),
            refreshes: REFRESH_OUTCOMES.map(refresh),
            store_errors: metrics::counter!(STORE_ERRORS, vec![name()]),
            generation: [Kind::Miss, Kind::Sync, Kind::Refresh].map(generation),
            stale_age: metrics::histogram!(STALE_AGE, vec![name()]),
            refresh_lag: metrics::histogram!(REFRESH_LAG, vec![name()]),
            running: metrics::gauge!(RUNNING, vec![name()]),
            queued: metrics::gauge!(QUEUED, vec![name()]),
        }
    }

    pub(crate) fn refresh(&self, outcome: Refresh) -> &Counter {
        &self.refreshes[outcome as usize]
    }

    pub(crate) fn generation(&self, kind: Kind) -> &Histogram {
        &self.generation[kind as usize]
    }
}

/// In the order of [`Refresh`]'s variants, which index `refreshes`.
const REFRESH_OUTCOMES: [Refresh; 6] = [
    Refresh::Started,
    Refresh::Completed,
    Refresh::Failed,
    Refresh::Dropped,
    Refresh::BackedOff,
    Refresh::Elsewhere,
];

fn outcome_str(outcome: Refresh) -> &'static str {
    match outcome {
        Refresh::Started => "started",
        Refresh::Completed => "completed",
        Refresh::Failed => "failed",
        Refresh::Dropped => "dropped",
        Refresh::BackedOff => "backed_off",
        Refresh::Elsewhere => "elsewhere",
    }
}
