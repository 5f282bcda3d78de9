//! The lock-free front of the slot map: what a fresh hit reads instead of moka.
//!
//! moka stays the store of record (capacity, TinyLFU admission, eviction); its `get`
//! records every read in a buffer, pins an epoch and reads a clock, which costs a
//! hit more than the rest of a fetch. The front is an `scc::HashIndex` holding the
//! very same `Arc`'d slots moka holds, so a hit is one lock-free lookup here.
//! Chosen over `papaya` by measurement: its entries sit inline in its buckets rather
//! than boxed one by one (fewer bytes per entry), and a reader leaves its epoch with
//! a plain store where papaya's guard swaps twice, which a hit felt. What keeps
//! the front and moka in step, and why the front never answers with what moka no longer holds,
//! is the protocol `Slots` follows (see `slots.rs`): a slot enters the front before
//! moka holds it, leaves it (compared by pointer) when moka lets it go, and is
//! retired, on its locator's write stripe or in moka's eviction listener, before
//! either of those returns.
//!
//! An entry taken out of the front is never read again, but its memory (the slot,
//! and the record in it) is given back only once no reader can hold it: when its
//! bucket is next written or the map shrinks, as `HashIndex` reclaims. So a removed
//! value can outlive its removal for a while, within the map's own bound.
//!
//! Which front hits also read moka is `touches.rs`'s business.

use std::hash::BuildHasher;
use std::sync::Arc;

/// Locator to slot, lock-free for readers.
pub(crate) struct Front<S: 'static, H: BuildHasher> {
    map: scc::HashIndex<Arc<str>, Arc<S>, H>,
}

impl<S: 'static, H: BuildHasher + Default> Front<S, H> {
    pub(crate) fn new() -> Self {
        Front {
            map: scc::HashIndex::with_hasher(H::default()),
        }
    }
}

impl<S: Send + Sync + 'static, H: BuildHasher> Front<S, H> {
    /// `read` of the slot under `locator`, if the front holds one. The slot is lent,
    /// not cloned: two threads hitting one entry then share no reference count.
    #[inline]
    pub(crate) fn read<R>(&self, locator: &str, read: impl FnOnce(&Arc<S>) -> R) -> Option<R> {
        self.map.peek_with(locator, |_, slot| read(slot))
    }

    /// Makes `slot` what the front answers for `locator`.
    pub(crate) fn publish(&self, locator: Arc<str>, slot: Arc<S>) {
        match self.map.entry(locator) {
            scc::hash_index::Entry::Occupied(held) => held.update(slot),
            scc::hash_index::Entry::Vacant(vacant) => drop(vacant.insert_entry(slot)),
        }
    }

    /// Takes `slot` out of the front, unless another slot has taken its place.
    pub(crate) fn withdraw(&self, locator: &str, slot: &Arc<S>) {
        let _ = self.map.remove_if(locator, |held| Arc::ptr_eq(held, slot));
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.map.len()
    }
}
