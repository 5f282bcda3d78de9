//! The near cache: decoded records kept in this process in front of Redis, in the
//! memory store's own slots and under its no-downgrade write.

use std::sync::Arc;
use std::time::Duration;

use moka::sync::Cache as Moka;
use serde::de::DeserializeOwned;
use tokio::time::Instant;

use super::entries::Stored;
use crate::store::sealed::{Found, Peeked};
use crate::store::slots::{Expiry, Slots};

pub(super) struct Near {
    slots: Slots,
    ttl: Duration,
    /// Per locator, whether the copy last offered is at least the version whose
    /// MessagePack bytes it is given: another process's write of that version or an
    /// older one leaves the copy alone.
    keepers: Moka<String, Keeper, foldhash::fast::RandomState>,
}

type Keeper = Arc<dyn Fn(&[u8]) -> bool + Send + Sync>;

impl Near {
    pub(super) fn new(max_capacity: u64, ttl: Duration) -> Self {
        Near {
            slots: Slots::new(max_capacity),
            ttl,
            keepers: Moka::builder()
                .max_capacity(max_capacity)
                .build_with_hasher(foldhash::fast::RandomState::default()),
        }
    }

    /// The epoch a read or write begins in: what it offers afterwards is dropped if a
    /// clear came meanwhile.
    pub(super) fn epoch(&self) -> u64 {
        self.slots.epoch()
    }

    /// The live copy under `locator`, with its `expire` mark, lent to `answer` first
    /// (see `StorePriv::peek`). A copy past its expiry is not served from here:
    /// Redis decides what is a fallback.
    #[inline]
    pub(super) fn peek<V, T, R>(
        &self,
        locator: &str,
        answer: impl FnOnce(Peeked<'_, V, T>) -> Option<R>,
    ) -> Result<R, Option<Found<V, T>>>
    where
        V: Send + Sync + 'static,
        T: Send + Sync + 'static,
    {
        self.slots
            .peek(
                locator,
                |peeked| {
                    if peeked.expired { None } else { answer(peeked) }
                },
            )
            .map_err(|found| found.filter(|found| !found.expired))
    }

    /// Offers a record read from or written to Redis, kept for the near cache's ttl
    /// and no longer than its expiry, unless a clear came since `since` or `admit`
    /// says no (a removal came since the read). A record past its expiry or marked
    /// by `expire` is not kept: what Redis holds of it is read each time, until it is
    /// replaced.
    pub(super) fn offer<V, T>(
        &self,
        locator: &str,
        stored: &Stored<V, T>,
        since: u64,
        admit: impl FnOnce() -> bool,
    ) where
        V: Ord + DeserializeOwned + Send + Sync + 'static,
        T: Send + Sync + 'static,
    {
        if stored.expired || stored.marked {
            return;
        }
        let Some(until) = Instant::now().checked_add(self.ttl) else {
            return;
        };
        let expires_at = stored.expires_at.map_or(until, |at| at.min(until));
        if expires_at <= Instant::now() {
            return;
        }
        let record = &stored.record;
        let admit = || {
            let admitted = admit();
            if admitted {
                // Under the slot's lock: the keeper follows the copy. One of a copy
                // the no-downgrade rule then refuses only makes a later event drop
                // the newer copy in the slot, which costs a round trip.
                let copy = record.clone();
                let keeper: Keeper = Arc::new(move |version: &[u8]| {
                    rmp_serde::from_slice::<V>(version).is_ok_and(|v| copy.version > v)
                });
                self.keepers.insert(locator.to_owned(), keeper);
            }
            admitted
        };
        let expiry = Expiry::until(expires_at);
        // A newer make of the same version (a refresh by age, a `put`) replaces an
        // older copy, as in memory.
        let made_since = stored.since.or(Some(record.made));
        self.slots
            .offer(locator, record, expiry, made_since, Some(since), admit);
    }

    /// Marks the copy of `locator` outdated (`expire`), here or in another process.
    pub(super) fn mark(&self, locator: &str) {
        self.slots.mark(locator);
    }

    /// Another process wrote `version` (MessagePack) under `locator`: whether the
    /// copy here is of a newer version, and is kept. A copy of that version goes
    /// too: the write was a newer make of it (a refresh by age, a `put`), or the
    /// no-downgrade rule would have refused it.
    pub(super) fn keeps(&self, locator: &str, version: &[u8]) -> bool {
        self.keepers
            .get(locator)
            .is_some_and(|keeper| keeper(version))
    }

    pub(super) fn remove(&self, locator: &str) {
        self.slots.remove(locator);
    }

    /// Forgets every copy at once; their memory is given back by a sweep.
    pub(super) fn clear(&self) -> u64 {
        self.slots.clear()
    }

    pub(super) fn sweep(&self, epoch: u64) {
        self.slots.sweep(epoch);
    }
}
