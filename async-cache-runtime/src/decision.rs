//! The strategy (contract §1, the table in the crate docs) as a pure function, apart
//! from the machinery that carries it out, so that every row of the table can be
//! tested on its own.

/// What the store holds under a locator, seen from one caller's requested version.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Found {
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
pub(crate) fn decide(found: Found, worker: bool, force_sync: bool) -> Action {
    match found {
        Found::Absent => Action::Generate,
        Found::Current => Action::Serve,
        Found::Outdated if force_sync || !worker => Action::Regenerate,
        Found::Outdated => Action::ServeStale,
    }
}

#[cfg(test)]
mod tests {
    use super::{Action::*, Found::*, *};

    /// Every combination of the table's inputs, spelled out.
    #[test]
    fn every_row_of_the_strategy_table() {
        let table = [
            // found,  worker, force_sync, action
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
        for (found, worker, force_sync, expected) in table {
            assert_eq!(
                decide(found, worker, force_sync),
                expected,
                "found={found:?} worker={worker} force_sync={force_sync}"
            );
        }
    }
}
