//! The near cache: decoded records kept in this process in front of Redis, in the
//! memory store's own slots and under its no-downgrade write.

use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use crate::store::Record;
use crate::store::slots::Slots;

pub(super) struct Near {
    slots: Slots,
    ttl: Duration,
}

impl Near {
    pub(super) fn new(max_capacity: u64, ttl: Duration) -> Self {
        Near {
            slots: Slots::new(max_capacity),
            ttl,
        }
    }

    /// The epoch a read or write begins in: what it offers afterwards is dropped if a
    /// clear came meanwhile.
    pub(super) fn epoch(&self) -> u64 {
        self.slots.epoch()
    }

    pub(super) fn get<V, T>(&self, locator: &str) -> Option<Arc<Record<V, T>>>
    where
        V: Send + Sync + 'static,
        T: Send + Sync + 'static,
    {
        self.slots.get(locator)
    }

    /// Offers a record read from or written to Redis, kept for the near cache's ttl
    /// and no longer than its Redis expiry (`pttl` in ms; negative: none), unless a
    /// clear came since `since` or `admit` says no (a removal came since the read).
    pub(super) fn offer<V, T>(
        &self,
        locator: &str,
        record: &Arc<Record<V, T>>,
        since: u64,
        pttl: i64,
        admit: impl FnOnce() -> bool,
    ) where
        V: Ord + Send + Sync + 'static,
        T: Send + Sync + 'static,
    {
        let ttl = match u64::try_from(pttl) {
            Ok(ms) => self.ttl.min(Duration::from_millis(ms)),
            Err(_) => self.ttl,
        };
        if ttl.is_zero() {
            return;
        }
        self.slots.offer(
            locator,
            record,
            Instant::now().checked_add(ttl),
            Some(since),
            admit,
        );
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
