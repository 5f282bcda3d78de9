//! The in-memory store: the default.

use std::sync::Arc;

use tokio::runtime::Handle;

use super::sealed::{Lookup, Peek, Peeked, WriteOptions};
use super::slots::{Expiry, Slots};
use super::{Record, StillValid, StoreError, StoreFuture, StoreSettings, sealed};

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

    async fn expire(&self, locator: &str) -> Result<(), StoreError> {
        self.slots.mark(locator);
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
    fn lookup<'a>(&'a self, locator: &'a str) -> StoreFuture<'a, Lookup<V, T>> {
        StoreFuture::ready(Ok(self.slots.lookup(locator)))
    }

    #[inline]
    fn peek<'a, R>(
        &'a self,
        locator: &'a str,
        answer: impl FnOnce(Peeked<'_, V, T>) -> Option<R>,
    ) -> Peek<'a, R, V, T> {
        match self.slots.peek(locator, answer) {
            Ok(answered) => Peek::Answered(answered),
            Err(found) => Peek::Looked(StoreFuture::ready(Ok(found))),
        }
    }

    fn write_with<'a>(
        &'a self,
        locator: &'a str,
        record: &'a Arc<Record<V, T>>,
        options: WriteOptions,
        still_valid: StillValid<'a>,
    ) -> StoreFuture<'a, Result<bool, StoreError>> {
        let expiry = Expiry::after(options.expires_in, options.fail_safe);
        let stored = self
            .slots
            .offer(locator, record, expiry, options.since, None, still_valid);
        StoreFuture::ready(Ok(stored))
    }
}

impl std::fmt::Debug for Memory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Memory")
            .field("entries", &self.slots.entry_count())
            .finish_non_exhaustive()
    }
}
