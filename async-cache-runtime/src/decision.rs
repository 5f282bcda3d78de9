//! The strategy of SPEC section 1 as a pure function, apart from the machinery that
//! carries it out, so that every row of the table can be tested on its own.

/// What the store holds under a locator, seen from one caller's requested version.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Stored {
    /// No entry, an expired one, or one of other value or version types.
    Absent,
    /// The requested version is equal to or older than the stored one.
    Current,
    /// The requested version is newer than the stored one.
    Outdated,
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
}

/// `worker` is whether a background refresh can run now; it only matters for an
/// outdated entry, so callers may pass `false` for the others without looking.
pub(crate) fn decide(stored: Stored, worker: bool, force_sync: bool) -> Action {
    match stored {
        Stored::Absent => Action::Generate,
        Stored::Current => Action::Serve,
        Stored::Outdated if force_sync || !worker => Action::Regenerate,
        Stored::Outdated => Action::ServeStale,
    }
}

#[cfg(test)]
mod tests {
    use super::{Action::*, Stored::*, *};

    /// One row per line of SPEC section 1's table, every combination spelled out.
    #[test]
    fn every_row_of_the_strategy_table() {
        let table = [
            // stored,  worker, force_sync, action
            (Absent, false, false, Generate),
            (Absent, true, false, Generate),
            (Absent, false, true, Generate),
            (Absent, true, true, Generate),
            (Current, false, false, Serve),
            (Current, true, false, Serve),
            (Current, false, true, Serve),
            (Current, true, true, Serve),
            (Outdated, true, false, ServeStale),
            (Outdated, false, false, Regenerate),
            (Outdated, true, true, Regenerate),
            (Outdated, false, true, Regenerate),
        ];
        for (stored, worker, force_sync, expected) in table {
            assert_eq!(
                decide(stored, worker, force_sync),
                expected,
                "stored={stored:?} worker={worker} force_sync={force_sync}"
            );
        }
    }
}
