use std::any::Any;
use std::future::{Future, ready};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::SeqCst};
use std::time::{Duration, Instant};

use moka::ops::compute::Op;
use moka::sync::Cache as Moka;

use super::{Backend, Read, Record, StillValid, Store, StoreError, StoreFuture, sealed};
use crate::builder::Settings;

/// The in-memory store: a `moka` cache bounded by entry count, holding entries of
/// any types.
///
/// `moka::sync` rather than `moka::future`: a read never awaits anything, and the
/// benchmarks show its `get` cheaper than the future cache's. Keys are hashed with
/// `foldhash`, which beats SipHash on short locators.
pub struct Memory {
    map: Moka<String, Slot, foldhash::fast::RandomState>,
    /// Bumped by `clear`: a slot stamped with an older epoch is gone, which closes the
    /// race between `clear` and a write that checked validity just before it.
    epoch: AtomicU64,
}

#[derive(Clone)]
struct Slot {
    epoch: u64,
    /// Checked on read rather than through moka's per-entry expiry policy, which
    /// costs every hit a clock conversion (a tenth of a hit's instructions, measured
    /// with callgrind); only entries that have an expiry read the clock. An expired
    /// slot stays until evicted or overwritten, within `max_capacity`.
    expires_at: Option<Instant>,
    record: Arc<dyn Any + Send + Sync>,
}

impl Slot {
    fn is_live(&self, epoch: u64) -> bool {
        self.epoch == epoch && self.expires_at.is_none_or(|at| Instant::now() < at)
    }
}

impl sealed::Sealed for Memory {}

impl Backend for Memory {
    type Config = ();

    fn build(settings: &Settings, _: ()) -> Self {
        Memory {
            map: Moka::builder()
                .max_capacity(settings.max_capacity)
                .build_with_hasher(foldhash::fast::RandomState::default()),
            epoch: AtomicU64::new(0),
        }
    }

    fn remove(&self, locator: &str) -> impl Future<Output = Result<(), StoreError>> + Send {
        // Through the key lock, so that a concurrent `write` lands wholly before it.
        self.map
            .entry_by_ref(locator)
            .and_compute_with(|_| Op::Remove);
        ready(Ok(()))
    }

    fn clear(&self) {
        let epoch = self.epoch.fetch_add(1, SeqCst) + 1;
        // Every slot of an older epoch is unreadable from here on; this only gives
        // their memory back. Not with moka's `invalidate_all`: it hides entries by
        // write time, lazily, and so also hid slots written just after the epoch
        // moved, which let a lagging write replace a newer version unseen (caught by
        // `tests/concurrency.rs`).
        for (locator, slot) in self.map.iter() {
            if slot.epoch < epoch {
                self.map
                    .entry_by_ref(locator.as_str())
                    .and_compute_with(|slot| match slot {
                        Some(slot) if slot.value().epoch < epoch => Op::Remove,
                        _ => Op::Nop,
                    });
            }
        }
    }

    type RefreshLock = ();

    fn lock_refresh(&self, _: &str) -> impl Future<Output = Result<Option<()>, StoreError>> + Send {
        ready(Ok(Some(())))
    }

    fn unlock_refresh(
        &self,
        _: &str,
        _: (),
    ) -> impl Future<Output = Result<(), StoreError>> + Send {
        ready(Ok(()))
    }
}

impl<V, T> Store<V, T> for Memory
where
    V: Ord + Send + Sync + 'static,
    T: Send + Sync + 'static,
{
    #[inline]
    fn read<'a>(&'a self, locator: &'a str) -> StoreFuture<'a, Read<V, T>> {
        StoreFuture::ready(Ok(self.get(locator)))
    }

    fn write<'a>(
        &'a self,
        locator: &'a str,
        record: &'a Arc<Record<V, T>>,
        expires_in: Option<Duration>,
        still_valid: StillValid<'a>,
    ) -> StoreFuture<'a, Result<(), StoreError>> {
        self.map.entry_by_ref(locator).and_compute_with(|stored| {
            // The epoch is read before validity: a `clear` that lands in between
            // leaves this slot with an old epoch, which reads ignore.
            let epoch = self.epoch.load(SeqCst);
            if !still_valid() {
                return Op::Nop;
            }
            if let Some(stored) = stored.map(|entry| entry.into_value()) {
                if stored.is_live(epoch) {
                    match stored.record.downcast_ref::<Record<V, T>>() {
                        Some(stored) if !record.may_replace(stored) => return Op::Nop,
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
                // A ttl too long to add is no expiry.
                expires_at: expires_in.and_then(|ttl| Instant::now().checked_add(ttl)),
                record: record.clone(),
            })
        });
        StoreFuture::ready(Ok(()))
    }
}

impl Memory {
    #[inline]
    fn get<V, T>(&self, locator: &str) -> Option<Arc<Record<V, T>>>
    where
        V: Send + Sync + 'static,
        T: Send + Sync + 'static,
    {
        let slot = self.map.get(locator)?;
        if !slot.is_live(self.epoch.load(SeqCst)) {
            return None;
        }
        match slot.record.downcast::<Record<V, T>>() {
            Ok(record) => Some(record),
            Err(_) => {
                tracing::debug!(
                    locator,
                    "entry of other value or version types: treated as a miss"
                );
                None
            }
        }
    }
}

impl std::fmt::Debug for Memory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Memory")
            .field("entries", &self.map.entry_count())
            .finish_non_exhaustive()
    }
}
