//! The in-memory map of records that both the memory store and the shared tier's near
//! cache are made of: one slot type, one no-downgrade write, one epoch rule.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::SeqCst};

use moka::ops::compute::Op;
use moka::sync::Cache as Moka;
use tokio::time::Instant;

use super::record::{ErasedRecord, Record};

/// Records by locator, bounded by entry count, of any types.
///
/// `moka::sync` rather than `moka::future`: a read never awaits anything, and the
/// benchmarks show its `get` cheaper than the future cache's. Keys are hashed with
/// `foldhash`, which beats SipHash on short locators.
pub(crate) struct Slots {
    map: Moka<String, Slot, foldhash::fast::RandomState>,
    /// Bumped by [`Slots::clear`]: a slot stamped with an older epoch is gone, which
    /// closes the race between a clear and a write that checked validity just before.
    epoch: AtomicU64,
}

#[derive(Clone)]
struct Slot {
    epoch: u64,
    /// Checked on read rather than through moka's per-entry expiry policy, which
    /// costs every hit a clock conversion; only entries that have an expiry read the
    /// clock. An expired slot stays until evicted or overwritten, within capacity.
    expires_at: Option<Instant>,
    record: ErasedRecord,
}

impl Slot {
    fn is_live(&self, epoch: u64) -> bool {
        self.epoch == epoch && self.expires_at.is_none_or(|at| Instant::now() < at)
    }
}

impl Slots {
    pub(crate) fn new(max_capacity: u64) -> Self {
        Slots {
            map: Moka::builder()
                .max_capacity(max_capacity)
                .build_with_hasher(foldhash::fast::RandomState::default()),
            epoch: AtomicU64::new(0),
        }
    }

    /// The epoch now: a write that began in it and lands after a clear is dropped.
    pub(crate) fn epoch(&self) -> u64 {
        self.epoch.load(SeqCst)
    }

    /// The live record of these types under `locator`.
    #[inline]
    pub(crate) fn get<V, T>(&self, locator: &str) -> Option<Arc<Record<V, T>>>
    where
        V: Send + Sync + 'static,
        T: Send + Sync + 'static,
    {
        let slot = self.map.get(locator)?;
        if !slot.is_live(self.epoch()) {
            return None;
        }
        let record = slot.record.typed();
        if record.is_none() {
            tracing::debug!(
                locator,
                "entry of other value or version types: treated as a miss"
            );
        }
        record
    }

    /// Stores `record` unless the live slot holds as new a record of these types (the
    /// no-downgrade rule), a clear came since `since` (the epoch the caller's read or
    /// write began in, if it matters), or `admit` says no: all decided under the
    /// slot's lock, atomically with the write. `admit` runs last, under that lock.
    pub(crate) fn offer<V, T>(
        &self,
        locator: &str,
        record: &Arc<Record<V, T>>,
        expires_at: Option<Instant>,
        since: Option<u64>,
        admit: impl FnOnce() -> bool,
    ) where
        V: Ord + Send + Sync + 'static,
        T: Send + Sync + 'static,
    {
        self.map.entry_by_ref(locator).and_compute_with(|held| {
            // The epoch is read before `admit`: a clear that lands in between leaves
            // this slot with an old epoch, which reads ignore.
            let epoch = self.epoch();
            if since.is_some_and(|since| since != epoch) || !admit() {
                return Op::Nop;
            }
            if let Some(held) = held.map(|entry| entry.into_value()) {
                if held.is_live(epoch) {
                    match held.record.typed::<V, T>() {
                        Some(held) if !record.may_replace(&held) => return Op::Nop,
                        Some(_) => {}
                        None => tracing::debug!(
                            locator,
                            "entry of other value or version types: overwritten"
                        ),
                    }
                }
            }
            Op::Put(Slot {
                epoch,
                expires_at,
                record: ErasedRecord::new(record.clone()),
            })
        });
    }

    /// Removes the slot of `locator`, through its lock, so that a concurrent
    /// [`offer`](Slots::offer) lands wholly before or after it.
    pub(crate) fn remove(&self, locator: &str) {
        self.map
            .entry_by_ref(locator)
            .and_compute_with(|_| Op::Remove);
    }

    /// Makes every slot unreadable at once, and returns the new epoch for
    /// [`sweep`](Slots::sweep).
    pub(crate) fn clear(&self) -> u64 {
        self.epoch.fetch_add(1, SeqCst) + 1
    }

    /// Gives back the memory of the slots of epochs before `epoch`. Not with moka's
    /// `invalidate_all`: it hides entries by write time, lazily, and so also hid slots
    /// written just after the epoch moved, which let a lagging write replace a newer
    /// version unseen (caught by `tests/concurrency.rs`).
    #[cfg_attr(not(feature = "redis"), allow(dead_code))]
    pub(crate) fn sweep(&self, epoch: u64) {
        self.sweeper(epoch)();
    }

    /// [`sweep`](Slots::sweep) as a job to run elsewhere: it walks the whole map, which
    /// must not block the executor thread that called `invalidate_all`.
    pub(crate) fn sweeper(&self, epoch: u64) -> impl FnOnce() + Send + 'static {
        let map = self.map.clone();
        move || sweep(&map, epoch)
    }

    pub(crate) fn entry_count(&self) -> u64 {
        self.map.entry_count()
    }
}

fn sweep(map: &Moka<String, Slot, foldhash::fast::RandomState>, epoch: u64) {
    for (locator, slot) in map.iter() {
        if slot.epoch < epoch {
            map.entry_by_ref(locator.as_str())
                .and_compute_with(|slot| match slot {
                    Some(slot) if slot.value().epoch < epoch => Op::Remove,
                    _ => Op::Nop,
                });
        }
    }
}

/// When something written now with `ttl` expires; a ttl too long to add is none.
pub(crate) fn expiry(ttl: Option<std::time::Duration>) -> Option<Instant> {
    ttl.and_then(|ttl| Instant::now().checked_add(ttl))
}
