//! The in-memory store: the default.

use std::sync::Arc;
use std::time::Duration;

use tokio::runtime::Handle;

use super::slots::{Slots, expiry};
use super::{Read, Record, StillValid, StoreError, StoreFuture, StoreSettings, sealed};

/// The in-memory store: a `moka` cache bounded by entry count, holding entries of
/// any types. The default store of [`Cache`](crate::Cache).
pub struct Memory {
    slots: Slots,
}

impl super::Backend for Memory {}

impl sealed::BackendPriv for Memory {
    type Config = ();
    type RefreshLock = ();

    fn build(settings: StoreSettings, _: ()) -> Self {
        Memory {
            slots: Slots::new(settings.max_capacity),
        }
    }

    async fn remove(&self, locator: &str) -> Result<(), StoreError> {
        self.slots.remove(locator);
        Ok(())
    }

    fn clear(&self) {
        // Unreadable at once; the memory is given back off the caller's thread.
        let sweep = self.slots.sweeper(self.slots.clear());
        match Handle::try_current() {
            Ok(runtime) => drop(runtime.spawn_blocking(sweep)),
            Err(_) => sweep(),
        }
    }

    async fn lock_refresh(&self, _: &str) -> Result<Option<()>, StoreError> {
        Ok(Some(()))
    }

    async fn unlock_refresh(&self, _: &str, _: ()) -> Result<(), StoreError> {
        Ok(())
    }
}

impl<V, T> super::Store<V, T> for Memory
where
    V: Ord + Send + Sync + 'static,
    T: Send + Sync + 'static,
{
}

impl<V, T> sealed::StorePriv<V, T> for Memory
where
    V: Ord + Send + Sync + 'static,
    T: Send + Sync + 'static,
{
    #[inline]
    fn read<'a>(&'a self, locator: &'a str) -> StoreFuture<'a, Read<V, T>> {
        StoreFuture::ready(Ok(self.slots.get(locator)))
    }

    fn write<'a>(
        &'a self,
        locator: &'a str,
        record: &'a Arc<Record<V, T>>,
        expires_in: Option<Duration>,
        still_valid: StillValid<'a>,
    ) -> StoreFuture<'a, Result<(), StoreError>> {
        self.slots
            .offer(locator, record, expiry(expires_in), None, still_valid);
        StoreFuture::ready(Ok(()))
    }
}

impl std::fmt::Debug for Memory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Memory")
            .field("entries", &self.slots.entry_count())
            .finish_non_exhaustive()
    }
}
