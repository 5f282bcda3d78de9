//! The in-memory map of records that both the memory store and the shared tier's near
//! cache are made of: one slot type, one no-downgrade write, one epoch rule.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::SeqCst};

use std::time::Duration;

use moka::ops::compute::Op;
use moka::sync::Cache as Moka;
use tokio::time::Instant;

use super::record::{ErasedRecord, Record};
use super::sealed::Found;

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
    expiry: Expiry,
    /// Outdated for every version (`expire`), until a write replaces it.
    marked: bool,
    record: ErasedRecord,
}

/// When a slot stops being served, and until when it stays a fail-safe fallback.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Expiry {
    pub(crate) expires_at: Option<Instant>,
    pub(crate) fallback_until: Option<Instant>,
}

impl Expiry {
    /// For what is written now with `ttl` and `fail_safe`; a time too far to add is
    /// none.
    pub(crate) fn after(ttl: Option<Duration>, fail_safe: Option<Duration>) -> Self {
        let expires_at = ttl.and_then(|ttl| Instant::now().checked_add(ttl));
        Expiry {
            expires_at,
            fallback_until: expires_at
                .zip(fail_safe)
                .and_then(|(at, max)| at.checked_add(max)),
        }
    }
}

/// What a slot is to a reader now.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Standing {
    Gone,
    Live,
    /// Past its expiry, within its fail-safe window.
    Fallback,
}

impl Slot {
    #[inline]
    fn standing(&self, epoch: u64) -> Standing {
        if self.epoch != epoch {
            return Standing::Gone;
        }
        let Some(expires_at) = self.expiry.expires_at else {
            return Standing::Live;
        };
        let now = Instant::now();
        if now < expires_at {
            Standing::Live
        } else if self.expiry.fallback_until.is_some_and(|until| now < until) {
            Standing::Fallback
        } else {
            Standing::Gone
        }
    }

    fn is_live(&self, epoch: u64) -> bool {
        self.standing(epoch) == Standing::Live
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

    /// The record of these types under `locator`, live or a fallback, with its mark.
    #[inline]
    pub(crate) fn lookup<V, T>(&self, locator: &str) -> Option<Found<V, T>>
    where
        V: Send + Sync + 'static,
        T: Send + Sync + 'static,
    {
        let slot = self.map.get(locator)?;
        let standing = slot.standing(self.epoch());
        if standing == Standing::Gone {
            return None;
        }
        let Some(record) = slot.record.typed() else {
            tracing::debug!(
                locator,
                "entry of other value or version types: treated as a miss"
            );
            return None;
        };
        Some(Found {
            record,
            expired: standing == Standing::Fallback,
            marked: slot.marked,
        })
    }

    /// Marks the entry of `locator` outdated for every version; its expiry and
    /// fallback window stay. Nothing to mark: nothing happens.
    pub(crate) fn mark(&self, locator: &str) {
        self.map.entry_by_ref(locator).and_compute_with(|held| {
            match held.map(|entry| entry.into_value()) {
                Some(held) if held.standing(self.epoch()) != Standing::Gone => Op::Put(Slot {
                    marked: true,
                    ..held
                }),
                _ => Op::Nop,
            }
        });
    }

    /// Stores `record` unless the live slot holds as new a record of these types (the
    /// no-downgrade rule, with `made_since` the time its generation began), a clear
    /// came since `since` (the epoch the caller's read or write began in, if it
    /// matters), or `admit` says no: all decided under the slot's lock, atomically
    /// with the write. `admit` runs last, under that lock. Says whether it stored.
    pub(crate) fn offer<V, T>(
        &self,
        locator: &str,
        record: &Arc<Record<V, T>>,
        expiry: Expiry,
        made_since: Option<u64>,
        since: Option<u64>,
        admit: impl FnOnce() -> bool,
    ) -> bool
    where
        V: Ord + Send + Sync + 'static,
        T: Send + Sync + 'static,
    {
        let entry = self.map.entry_by_ref(locator).and_compute_with(|held| {
            // The epoch is read before `admit`: a clear that lands in between leaves
            // this slot with an old epoch, which reads ignore.
            let epoch = self.epoch();
            if since.is_some_and(|since| since != epoch) || !admit() {
                return Op::Nop;
            }
            if let Some(held) = held.map(|entry| entry.into_value()) {
                if held.is_live(epoch) {
                    match held.record.typed::<V, T>() {
                        Some(held) if !record.may_replace(&held, made_since) => return Op::Nop,
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
                expiry,
                marked: false,
                record: ErasedRecord::new(record.clone()),
            })
        });
        matches!(
            entry,
            moka::ops::compute::CompResult::Inserted(_)
                | moka::ops::compute::CompResult::ReplacedWith(_)
        )
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
