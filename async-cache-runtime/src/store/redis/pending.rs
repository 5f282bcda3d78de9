//! Invalidations (and `expire` marks) that did not reach Redis (it was unreachable,
//! or backing off): kept,
//! and applied once Redis answers, by a retry task and before any access to the same
//! locator. Until then this process does not serve the entry: a read or write of a
//! pending locator first applies its removal, and fails (the caller generates) while
//! it cannot.
//!
//! Bounded: past [`MAX_PENDING`] locators, the pending removals give way to one
//! pending `invalidate_all`, which removes them all (and the rest).

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::Duration;

use super::Shared;
use crate::store::StoreError;

/// Pending removals kept at most; one more turns them into an `invalidate_all`.
pub(super) const MAX_PENDING: usize = 10_000;
/// The retry task's pause between attempts when the back-off is shorter.
const MIN_RETRY: Duration = Duration::from_millis(20);

/// What is pending for a locator.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Op {
    Remove,
    /// `expire`: a removal pending for the same locator already covers it.
    Mark,
}

#[derive(Default)]
pub(super) struct Pending {
    /// Locator -> the number of the latest operation asked for it, and which: an
    /// older attempt that succeeds does not forget a newer one.
    removals: Mutex<HashMap<String, (u64, Op)>>,
    /// `removals.len()`, read without the lock on every access.
    count: AtomicUsize,
    next: AtomicU64,
    retrying: AtomicBool,
}

impl Pending {
    fn lock(&self) -> MutexGuard<'_, HashMap<String, (u64, Op)>> {
        self.removals
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn number(&self, locator: &str) -> Option<(u64, Op)> {
        if self.count.load(SeqCst) == 0 {
            return None;
        }
        self.lock().get(locator).copied()
    }

    /// Forgets `locator`'s removal if it is still the one numbered `number`.
    fn done(&self, locator: &str, number: u64) {
        let mut removals = self.lock();
        if removals
            .get(locator)
            .is_some_and(|&(held, _)| held == number)
        {
            removals.remove(locator);
            self.count.store(removals.len(), SeqCst);
        }
    }

    /// Forgets every pending removal: a pending `invalidate_all` supersedes them.
    pub(super) fn supersede(&self) {
        let mut removals = self.lock();
        removals.clear();
        self.count.store(0, SeqCst);
    }

    pub(super) fn len(&self) -> usize {
        self.count.load(SeqCst)
    }
}

impl Shared {
    /// Keeps the removal of `locator`, which did not reach Redis, for later.
    pub(super) fn pend_removal(self: &Arc<Self>, locator: &str) {
        self.pend(locator, Op::Remove);
    }

    /// Keeps the `expire` of `locator`, which did not reach Redis, for later.
    pub(super) fn pend_expire(self: &Arc<Self>, locator: &str) {
        self.pend(locator, Op::Mark);
    }

    fn pend(self: &Arc<Self>, locator: &str, op: Op) {
        let pending = &self.pending;
        let overflow = {
            let mut removals = pending.lock();
            let number = pending.next.fetch_add(1, SeqCst);
            let op = match removals.get(locator) {
                Some((_, Op::Remove)) => Op::Remove,
                _ => op,
            };
            removals.insert(locator.to_owned(), (number, op));
            pending.count.store(removals.len(), SeqCst);
            removals.len() > MAX_PENDING
        };
        if overflow {
            tracing::warn!(
                max = MAX_PENDING,
                "too many invalidations waiting for Redis: they become one invalidate_all"
            );
            self.clear();
            return;
        }
        self.retry_pending();
    }

    /// Applies the pending removal of `locator`, if there is one: before anything
    /// else reads or writes it.
    pub(super) async fn sync_pending(self: &Arc<Self>, locator: &str) -> Result<(), StoreError> {
        match self.pending.number(locator) {
            None => Ok(()),
            Some((number, op)) => {
                self.apply(locator, op).await?;
                self.pending.done(locator, number);
                Ok(())
            }
        }
    }

    async fn apply(self: &Arc<Self>, locator: &str, op: Op) -> Result<(), StoreError> {
        match op {
            Op::Remove => self.remove_in_redis(locator).await,
            Op::Mark => self.mark_in_redis(locator).await,
        }
    }

    /// Starts the task that applies a pending `invalidate_all` and the pending
    /// removals once Redis answers, unless it runs. It holds the store weakly: it ends with the cache.
    pub(super) fn retry_pending(self: &Arc<Self>) {
        if self.pending.retrying.swap(true, SeqCst) {
            return;
        }
        let Some(runtime) = self.runtime() else {
            // No runtime to retry in: the next access of each locator applies it.
            self.pending.retrying.store(false, SeqCst);
            return;
        };
        let pause = self.link.backoff().max(MIN_RETRY);
        let weak: Weak<Shared> = Arc::downgrade(self);
        drop(runtime.spawn(async move {
            loop {
                tokio::time::sleep(pause).await;
                let Some(shared) = weak.upgrade() else { return };
                if shared.flush_pending().await.is_ok() {
                    shared.pending.retrying.store(false, SeqCst);
                    // A removal that came after the last look restarts the loop.
                    if shared.pending.len() == 0 || shared.pending.retrying.swap(true, SeqCst) {
                        return;
                    }
                }
            }
        }));
    }

    /// Applies every pending removal, stopping at the first fault.
    async fn flush_pending(self: &Arc<Self>) -> Result<(), StoreError> {
        self.sync_clear().await?;
        let batch: Vec<(String, (u64, Op))> = self
            .pending
            .lock()
            .iter()
            .map(|(locator, &pending)| (locator.clone(), pending))
            .collect();
        for (locator, (number, op)) in batch {
            self.apply(&locator, op).await?;
            self.pending.done(&locator, number);
        }
        Ok(())
    }
}
