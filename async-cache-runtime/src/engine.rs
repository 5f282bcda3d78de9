//! The machinery behind [`Cache`](crate::Cache): what it owns, and the store access
//! every step shares. The steps themselves are one file each:
//!
//! - `fetch`: the strategy loop, one pure [`decide`](crate::decision::decide) per
//!   read of the store, then its machinery;
//! - `in_caller`: a generation run in the caller, or joined (miss coalescing);
//! - `background`: a background refresh, from scheduling to its write.

use std::sync::Arc;
use std::time::Duration;

use crate::flights::{Claim, Flights};
use crate::stats::Counters;
use crate::store::sealed::StorePriv;
use crate::store::{Backend, Record, StoreError};
use crate::worker::Worker;

mod background;
mod fetch;
mod in_caller;

pub(crate) struct Engine<S> {
    pub(crate) store: S,
    pub(crate) flights: Arc<Flights>,
    pub(crate) worker: Arc<Worker>,
    pub(crate) counters: Arc<Counters>,
}

impl<S: Backend> Engine<S> {
    pub(crate) fn new(store: S, worker: Arc<Worker>, counters: Arc<Counters>) -> Self {
        Engine {
            store,
            flights: Flights::new(),
            worker,
            counters,
        }
    }

    pub(crate) async fn invalidate(&self, locator: &str) {
        self.flights.invalidate(locator);
        if let Err(error) = self.store.remove(locator).await {
            self.store_error(locator, "remove", &error);
        }
    }

    pub(crate) fn invalidate_all(&self) {
        self.flights.invalidate_all();
        self.store.clear();
    }

    /// The record under `locator`, if one of these types is usable; a fault reads as
    /// none (the caller then generates), counted.
    async fn read<V, T>(&self, locator: &str) -> Option<Arc<Record<V, T>>>
    where
        S: StorePriv<V, T>,
    {
        match self.store.read(locator).await {
            Ok(record) => record,
            Err(error) => {
                self.store_error(locator, "read", &error);
                None
            }
        }
    }

    /// Stores `record` under the claim's locator, unless the claim was invalidated or
    /// the store holds as new a version: both decided atomically with the write.
    /// Returns whether it was stored, as far as the store tells.
    async fn write<V, T>(
        &self,
        claim: &Claim,
        record: &Arc<Record<V, T>>,
        expires_in: Option<Duration>,
    ) -> bool
    where
        S: StorePriv<V, T>,
    {
        let still_valid = || claim.is_valid();
        let locator = claim.locator();
        match self
            .store
            .write(locator, record, expires_in, &still_valid)
            .await
        {
            // The store does not yet say whether the no-downgrade rule refused the
            // write: only an invalidation is seen as "not stored".
            Ok(()) => claim.is_valid(),
            Err(error) => {
                self.store_error(locator, "write", &error);
                false
            }
        }
    }

    fn store_error(&self, locator: &str, operation: &str, error: &StoreError) {
        self.counters.store_error();
        // At debug: a store that goes down logs that once itself, and a warning per
        // access would flood the log while it is down.
        tracing::debug!(locator, operation, %error, "store fault: going on without the store");
    }
}

/// The text of a panic's payload, for the log.
pub(crate) fn panic_message(panic: &(dyn std::any::Any + Send)) -> &str {
    panic
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| panic.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("(not a string)")
}
