//! The strategy (contract §1, the table in the crate docs, refined by §6) as pure
//! functions, apart from the machinery that carries it out, so that every row can be
//! tested on its own: [`classify`] says what a stored entry is to one caller,
//! [`decide`] what that caller does about it.

/// What the store holds under a locator, seen from one caller.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Found {
    /// No entry, an expired one (for a caller without fail-safe), or one of other
    /// value or version types.
    Absent,
    /// The requested version is equal to or older than the stored one, and the entry
    /// is neither old enough to refresh nor marked by `expire`.
    Current,
    /// The requested version is newer, or the entry is old enough to refresh, or it
    /// is marked by `expire`: stale, and a fallback.
    Outdated,
    /// Past its expiry, kept as a fail-safe fallback, for a caller that uses one.
    Expired,
}

/// What a fetch does about it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Action {
    /// Serve the stored value.
    Serve,
    /// Serve the stored value and schedule one background refresh.
    ServeStale,
    /// Generate in the caller: nothing usable is stored.
    Generate,
    /// Regenerate in the caller: the stored value is outdated and may not be served.
    Regenerate,
    /// Serve the fallback without generating: the fail-safe throttle holds.
    ServeFallback,
}

/// The facts about a stored entry, for one caller.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Facts {
    /// Current by version (and build) for the caller.
    pub(crate) current: bool,
    /// Marked outdated by `expire`.
    pub(crate) marked: bool,
    /// At least the caller's `refresh_after` old, and the caller's version is at
    /// least the stored one (an older caller could never store its refresh).
    pub(crate) aged: bool,
    /// Past its expiry, within its fail-safe window.
    pub(crate) expired: bool,
    /// The caller uses fallbacks (`fail_safe` set).
    pub(crate) fail_safe: bool,
}

pub(crate) fn classify(facts: Facts) -> Found {
    if facts.expired {
        return if facts.fail_safe {
            Found::Expired
        } else {
            Found::Absent
        };
    }
    if facts.current && !facts.marked && !facts.aged {
        Found::Current
    } else {
        Found::Outdated
    }
}

/// `worker` is whether a background refresh can run now; `throttled` whether the
/// locator's fail-safe throttle is open for a caller that has a fallback. Both only
/// matter where the caller would otherwise generate.
pub(crate) fn decide(found: Found, worker: bool, force_sync: bool, throttled: bool) -> Action {
    let generate = match found {
        Found::Current => return Action::Serve,
        Found::Outdated if !force_sync && worker => return Action::ServeStale,
        Found::Absent => return Action::Generate,
        Found::Expired => Action::Generate,
        Found::Outdated => Action::Regenerate,
    };
    // The throttle never answers a caller that asked for the latest.
    if throttled && !force_sync {
        Action::ServeFallback
    } else {
        generate
    }
}

#[cfg(test)]
mod tests {
    use super::{Action::*, Found::*, *};

    /// Every combination of the table's inputs, spelled out.
    #[test]
    fn every_row_of_the_strategy_table() {
        let table = [
            // found, worker, force_sync, throttled, action
            (Absent, false, false, false, Generate),
            (Absent, true, false, false, Generate),
            (Absent, false, true, false, Generate),
            (Absent, true, true, false, Generate),
            (Current, false, false, false, Serve),
            (Current, true, false, false, Serve),
            (Current, false, true, false, Serve),
            (Current, true, true, false, Serve),
            (Current, true, false, true, Serve),
            (Outdated, true, false, false, ServeStale),
            (Outdated, true, false, true, ServeStale),
            (Outdated, false, false, false, Regenerate),
            (Outdated, false, false, true, ServeFallback),
            (Outdated, true, true, false, Regenerate),
            (Outdated, true, true, true, Regenerate),
            (Outdated, false, true, false, Regenerate),
            (Outdated, false, true, true, Regenerate),
            (Expired, true, false, false, Generate),
            (Expired, false, false, false, Generate),
            (Expired, true, false, true, ServeFallback),
            (Expired, false, false, true, ServeFallback),
            (Expired, true, true, true, Generate),
            (Expired, false, true, false, Generate),
        ];
        for (found, worker, force_sync, throttled, expected) in table {
            assert_eq!(
                decide(found, worker, force_sync, throttled),
                expected,
                "found={found:?} worker={worker} force_sync={force_sync} throttled={throttled}"
            );
        }
    }

    #[test]
    fn what_an_entry_is_to_a_caller() {
        let live = Facts {
            current: true,
            marked: false,
            aged: false,
            expired: false,
            fail_safe: false,
        };
        let table = [
            (live, Current),
            (
                Facts {
                    current: false,
                    ..live
                },
                Outdated,
            ),
            (
                Facts {
                    marked: true,
                    ..live
                },
                Outdated,
            ),
            (Facts { aged: true, ..live }, Outdated),
            (
                Facts {
                    expired: true,
                    ..live
                },
                Absent,
            ),
            (
                Facts {
                    expired: true,
                    fail_safe: true,
                    ..live
                },
                Expired,
            ),
            (
                Facts {
                    expired: true,
                    fail_safe: true,
                    current: false,
                    ..live
                },
                Expired,
            ),
            (
                Facts {
                    fail_safe: true,
                    ..live
                },
                Current,
            ),
        ];
        for (facts, expected) in table {
            assert_eq!(classify(facts), expected, "{facts:?}");
        }
    }
}
