//! Per-locator windows of time (contract §6): the fail-safe throttle, during which a
//! fallback answers the callers that would generate, and the refresh back-off, during
//! which stale reads schedule no refresh. Consulted only off the hit path: before a
//! generation in the caller, before scheduling a refresh, after a refresh ends.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use tokio::time::Instant;

/// Past this many open windows, closed ones are swept when the next one opens.
const SWEEP_ABOVE: usize = 4096;

/// Keyed by locator, hashed as the flights are: a throttled fail-safe answer probes
/// `throttles` on every read, where SipHash cost more than the store's own lookup.
type ByLocator<T> = HashMap<Box<str>, T, foldhash::fast::RandomState>;

#[derive(Default)]
pub(crate) struct Windows {
    throttles: Mutex<ByLocator<Instant>>,
    backoffs: Mutex<ByLocator<Backoff>>,
}

struct Backoff {
    failures: u32,
    until: Instant,
}

fn lock<T>(map: &Mutex<T>) -> MutexGuard<'_, T> {
    // Nothing user-supplied runs under these locks.
    map.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Windows {
    /// Whether the throttle of `locator` is open now: a window `[t, t + d)`.
    pub(crate) fn throttled(&self, locator: &str) -> bool {
        lock(&self.throttles)
            .get(locator)
            .is_some_and(|until| Instant::now() < *until)
    }

    /// Opens the throttle for `d` from now, unless it is open already: later fallback
    /// answers do not extend it.
    pub(crate) fn open_throttle(&self, locator: &str, d: Duration) {
        let now = Instant::now();
        let mut throttles = lock(&self.throttles);
        if throttles.len() > SWEEP_ABOVE {
            throttles.retain(|_, until| now < *until);
        }
        match throttles.get_mut(locator) {
            Some(until) if now < *until => {}
            Some(until) => *until = now + d,
            None => {
                throttles.insert(locator.into(), now + d);
            }
        }
    }

    /// A value was stored under `locator`: its throttle closes.
    pub(crate) fn stored(&self, locator: &str) {
        let mut throttles = lock(&self.throttles);
        if !throttles.is_empty() {
            throttles.remove(locator);
        }
    }

    /// Whether stale reads of `locator` are held back from scheduling a refresh now.
    pub(crate) fn backed_off(&self, locator: &str) -> bool {
        lock(&self.backoffs)
            .get(locator)
            .is_some_and(|backoff| Instant::now() < backoff.until)
    }

    /// A background refresh of `locator` failed just now: the window opens at
    /// `first`, doubling with each consecutive failure up to `max`.
    pub(crate) fn refresh_failed(&self, locator: &str, first: Duration, max: Duration) {
        let now = Instant::now();
        let mut backoffs = lock(&self.backoffs);
        if backoffs.len() > SWEEP_ABOVE {
            backoffs.retain(|_, backoff| now < backoff.until);
        }
        let backoff = backoffs.entry(locator.into()).or_insert(Backoff {
            failures: 0,
            until: now,
        });
        backoff.failures = backoff.failures.saturating_add(1);
        let doubled = first.saturating_mul(1_u32 << (backoff.failures - 1).min(31));
        backoff.until = now + doubled.min(max);
    }

    /// A background refresh of `locator` succeeded: its back-off resets.
    pub(crate) fn refresh_succeeded(&self, locator: &str) {
        let mut backoffs = lock(&self.backoffs);
        if !backoffs.is_empty() {
            backoffs.remove(locator);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECOND: Duration = Duration::from_secs(1);

    #[tokio::test(start_paused = true)]
    async fn a_throttle_covers_its_window_and_is_not_extended() {
        let windows = Windows::default();
        assert!(!windows.throttled("k"));
        windows.open_throttle("k", 10 * SECOND);
        tokio::time::advance(9 * SECOND).await;
        windows.open_throttle("k", 10 * SECOND);
        assert!(windows.throttled("k"));
        tokio::time::advance(SECOND).await;
        assert!(!windows.throttled("k"), "[t, t + d): closed at t + d");
        windows.open_throttle("k", 10 * SECOND);
        assert!(windows.throttled("k"));
        windows.stored("k");
        assert!(!windows.throttled("k"), "a stored value closes it");
    }

    #[tokio::test(start_paused = true)]
    async fn a_backoff_doubles_up_to_its_max_and_resets_on_success() {
        let windows = Windows::default();
        for expected in [1, 2, 4, 5, 5] {
            windows.refresh_failed("k", SECOND, 5 * SECOND);
            tokio::time::advance(expected * SECOND - Duration::from_millis(1)).await;
            assert!(windows.backed_off("k"), "{expected} s window");
            tokio::time::advance(Duration::from_millis(1)).await;
            assert!(!windows.backed_off("k"), "{expected} s window ends");
        }
        windows.refresh_failed("k", SECOND, 5 * SECOND);
        windows.refresh_succeeded("k");
        assert!(!windows.backed_off("k"));
        windows.refresh_failed("k", SECOND, 5 * SECOND);
        tokio::time::advance(SECOND).await;
        assert!(!windows.backed_off("k"), "back to the first window");
    }
}
