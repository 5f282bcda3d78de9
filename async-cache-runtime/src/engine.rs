//! The machinery behind [`Cache`](crate::Cache): what it owns, and the store access
//! every step shares. The steps themselves are one file each:
//!
//! - `fetch`: the strategy loop, one pure [`decide`](crate::decision::decide) per
//!   read of the store, then its machinery;
//! - `in_caller`: a generation run in the caller, or joined (miss coalescing);
//! - `background`: a background refresh, from scheduling to its write.

use std::sync::Arc;

use crate::FetchOptions;
use crate::flights::{Claim, Flights};
use crate::options::Defaults;
use crate::stats::Counters;
use crate::store::record::tick;
use crate::store::sealed::{Found, Lookup, StorePriv, WriteOptions};
use crate::store::{Backend, Record, StillValid, StoreError};
use crate::worker::Worker;
use windows::Windows;

mod background;
mod fetch;
mod in_caller;
mod windows;

pub(crate) struct Engine<S> {
    pub(crate) store: S,
    pub(crate) flights: Arc<Flights>,
    pub(crate) worker: Arc<Worker>,
    pub(crate) counters: Arc<Counters>,
    pub(crate) defaults: Defaults,
    windows: Windows,
}

impl<S: Backend> Engine<S> {
    pub(crate) fn new(
        store: S,
        worker: Arc<Worker>,
        counters: Arc<Counters>,
        defaults: Defaults,
    ) -> Self {
        Engine {
            store,
            flights: Flights::new(),
            worker,
            counters,
            defaults,
            windows: Windows::default(),
        }
    }

    /// Marks the entry of `locator` outdated for every version, kept as a fallback.
    pub(crate) async fn expire(&self, locator: &str) {
        if let Err(error) = self.store.expire(locator).await {
            self.store_error(locator, "expire", &error);
        }
    }

    /// Stores a value made elsewhere, under the no-downgrade rule; whether it was.
    pub(crate) async fn put<V, T>(
        &self,
        locator: &str,
        version: V,
        value: T,
        options: &FetchOptions,
    ) -> bool
    where
        S: StorePriv<V, T>,
        V: Send + Sync + 'static,
        T: Send + Sync + 'static,
    {
        let options = self.defaults.apply(options);
        let record = Arc::new(Record::new(version, value, options.fingerprint));
        let write = WriteOptions {
            expires_in: options.expires_in,
            fail_safe: options.fail_safe,
            since: Some(tick()),
        };
        self.store_record(locator, &record, write, &|| true).await
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

    /// The record under `locator`, if one of these types is usable (live or, past
    /// its expiry, a fallback); a fault reads as none (the caller then generates),
    /// counted.
    async fn lookup<V, T>(&self, locator: &str) -> Option<Found<V, T>>
    where
        S: StorePriv<V, T>,
        V: Send,
        T: Send,
    {
        let found = self.store.lookup(locator).await;
        self.fault_as_none(locator, found)
    }

    /// What a fetch makes of a lookup: a fault reads as none (the caller then
    /// generates), counted.
    #[inline]
    pub(super) fn fault_as_none<V, T>(
        &self,
        locator: &str,
        found: Lookup<V, T>,
    ) -> Option<Found<V, T>> {
        match found {
            Ok(found) => found,
            Err(error) => {
                self.store_error(locator, "read", &error);
                None
            }
        }
    }

    /// Stores `record` under the claim's locator, unless the claim was invalidated or
    /// the store holds as new a version: both decided atomically with the write.
    /// Returns whether it was stored.
    async fn write<V, T>(
        &self,
        claim: &Claim,
        record: &Arc<Record<V, T>>,
        options: WriteOptions,
    ) -> bool
    where
        S: StorePriv<V, T>,
        V: Send,
        T: Send,
    {
        let still_valid = || claim.is_valid();
        self.store_record(claim.locator(), record, options, &still_valid)
            .await
    }

    async fn store_record<V, T>(
        &self,
        locator: &str,
        record: &Arc<Record<V, T>>,
        options: WriteOptions,
        still_valid: StillValid<'_>,
    ) -> bool
    where
        S: StorePriv<V, T>,
        V: Send,
        T: Send,
    {
        match self
            .store
            .write_with(locator, record, options, still_valid)
            .await
        {
            Ok(stored) => {
                if stored {
                    // A value stored under the locator closes its fail-safe throttle.
                    self.windows.stored(locator);
                }
                stored
            }
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
pub fn panic_message(panic: &(dyn std::any::Any + Send)) -> &str {
    panic
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| panic.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("(not a string)")
}
