//! Per-locator windows of time (contract §6): the fail-safe throttle, during which a
//! fallback answers the callers that would generate, and the refresh back-off, during
//! which stale reads schedule no refresh. Consulted only off the hit path: before a
//! generation in the caller, before scheduling a refresh, after a refresh ends.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering::Acquire, Ordering::Release};
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
    throttles: Open<Instant>,
    backoffs: Open<Backoff>,
}

struct Backoff {
    failures: u32,
    until: Instant,
}

/// The windows of one kind, and whether there are any: most of the time there are
/// none, and then a read takes no lock (a stale read asks for back-offs every time).
struct Open<T> {
    map: Mutex<ByLocator<T>>,
    /// Whether `map` holds any: written under its lock after every change.
    any: AtomicBool,
}

impl<T> Default for Open<T> {
    fn default() -> Self {
        Open {
            map: Mutex::default(),
            any: AtomicBool::new(false),
        }
    }
}

impl<T> Open<T> {
    /// `read` of the window of `locator`, if one is kept.
    #[inline]
    fn read<R>(&self, locator: &str, read: impl FnOnce(&T) -> R) -> Option<R> {
        if !self.any.load(Acquire) {
            return None;
        }
        self.lock().get(locator).map(read)
    }

    /// `change` of the windows, however many there are.
    fn change<R>(&self, change: impl FnOnce(&mut ByLocator<T>) -> R) -> R {
        let mut map = self.lock();
        let changed = change(&mut map);
        self.any.store(!map.is_empty(), Release);
        changed
    }

    /// Closes the window of `locator`, if one is kept.
    fn close(&self, locator: &str) {
        if self.any.load(Acquire) {
            self.change(|map| map.remove(locator));
        }
    }

    fn lock(&self) -> MutexGuard<'_, ByLocator<T>> {
        self.map.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Windows {
    /// Whether the throttle of `locator` is open now: a window `[t, t + d)`.
    pub(crate) fn throttled(&self, locator: &str) -> bool {
        self.throttles
            .read(locator, |until| Instant::now() < *until)
            .unwrap_or(false)
    }

    /// Opens the throttle for `d` from now, unless it is open already: later fallback
    /// answers do not extend it.
    pub(crate) fn open_throttle(&self, locator: &str, d: Duration) {
        let now = Instant::now();
        self.throttles.change(|throttles| {
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
        });
    }

    /// A value was stored under `locator`: its throttle closes.
    pub(crate) fn stored(&self, locator: &str) {
        self.throttles.close(locator);
    }

    /// Whether stale reads of `locator` are held back from scheduling a refresh now.
    pub(crate) fn backed_off(&self, locator: &str) -> bool {
        self.backoffs
            .read(locator, |backoff| Instant::now() < backoff.until)
            .unwrap_or(false)
    }

    /// A background refresh of `locator` failed just now: the window opens at
    /// `first`, doubling with each consecutive failure up to `max`.
    pub(crate) fn refresh_failed(&self, locator: &str, first: Duration, max: Duration) {
        let now = Instant::now();
        self.backoffs.change(|backoffs| {
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
        });
    }

    /// A background refresh of `locator` succeeded: its back-off resets.
    pub(crate) fn refresh_succeeded(&self, locator: &str) {
        self.backoffs.close(locator);
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
