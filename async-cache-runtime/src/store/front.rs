//! The lock-free front of the slot map: what a fresh hit reads instead of moka.
//!
//! moka stays the store of record (capacity, TinyLFU admission, eviction); its `get`
//! records every read in a buffer, pins an epoch and reads a clock, which costs a
//! hit more than the rest of a fetch. The front is a `papaya` map holding the very
//! same `Arc`'d slots moka holds, so a hit is one lock-free lookup here. What keeps
//! the two in step, and why the front never answers with what moka no longer holds,
//! is the protocol `Slots` follows (see `slots.rs`): a slot enters the front before
//! moka holds it, leaves it (compared by pointer) when moka lets it go, and is
//! retired, on its locator's write stripe or in moka's eviction listener, before
//! either of those returns.
//!
//! Which front hits also read moka is `touches.rs`'s business.

use std::hash::BuildHasher;
use std::sync::Arc;

/// Locator to slot, lock-free for readers.
pub(crate) struct Front<S, H> {
    map: papaya::HashMap<Arc<str>, Arc<S>, H>,
}

impl<S, H: BuildHasher + Default> Front<S, H> {
    pub(crate) fn new() -> Self {
        Front {
            map: papaya::HashMap::with_hasher(H::default()),
        }
    }
}

impl<S: Send + Sync, H: BuildHasher> Front<S, H> {
    /// `read` of the slot under `locator`, if the front holds one. The slot is lent,
    /// not cloned: two threads hitting one entry then share no reference count.
    #[inline]
    pub(crate) fn read<R>(&self, locator: &str, read: impl FnOnce(&Arc<S>) -> R) -> Option<R> {
        self.map.pin().get(locator).map(read)
    }

    /// Makes `slot` what the front answers for `locator`.
    pub(crate) fn publish(&self, locator: Arc<str>, slot: Arc<S>) {
        self.map.pin().insert(locator, slot);
    }

    /// Takes `slot` out of the front, unless another slot has taken its place.
    pub(crate) fn withdraw(&self, locator: &str, slot: &Arc<S>) {
        let _ = self
            .map
            .pin()
            .remove_if(locator, |_, held| Arc::ptr_eq(held, slot));
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.map.len()
    }
}
