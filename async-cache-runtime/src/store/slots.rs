//! The in-memory map of records that both the memory store and the shared tier's near
//! cache are made of: one slot type, one no-downgrade write, one epoch rule.

use std::sync::Arc;
use std::sync::atomic::{
    AtomicBool, AtomicU64, Ordering::Acquire, Ordering::Release, Ordering::SeqCst,
};

use std::time::Duration;

use std::hash::BuildHasher;
use std::sync::{Mutex, MutexGuard, PoisonError};

use moka::sync::Cache as Moka;
use tokio::time::Instant;

use super::front::Front;
use super::record::{ErasedRecord, Record};
use super::sealed::{Found, Peeked};
use super::touches::{Touched, Touches};

type Hasher = foldhash::fast::RandomState;

/// Records by locator, bounded by entry count, of any types.
///
/// `moka::sync` rather than `moka::future`: a read never awaits anything, and the
/// benchmarks show its `get` cheaper than the future cache's. Keys are hashed with
/// `foldhash`, which beats SipHash on short locators.
///
/// Reads go to the lock-free [`Front`] first, which holds the same slots as moka:
/// every write (`offer`, `mark`) publishes its slot to the front on its locator's
/// stripe, before moka holds it, and retires the slot it replaces after; every
/// removal (ours, or moka's eviction) withdraws the slot from the front, then
/// retires it. A reader that meets a retired slot reads the front once more: the
/// slot that replaced it is there already, or nothing is. So the front answers with
/// nothing that a write or removal which has returned took away.
pub(crate) struct Slots {
    map: Moka<Arc<str>, Arc<Slot>, Hasher>,
    front: Arc<Front<Slot, Hasher>>,
    /// Writes of one locator take turns on its stripe, which makes each read of the
    /// held slot, its decision and its write one step. Not moka's `and_compute_with`:
    /// that records a read of the key, so a miss would count in moka's frequency
    /// sketch again at its write, while most hits reach the sketch only as a sample.
    stripes: Arc<Stripes>,
    touches: Touches,
    /// Bumped by [`Slots::clear`]: a slot stamped with an older epoch is gone, which
    /// closes the race between a clear and a write that checked validity just before.
    epoch: AtomicU64,
}

struct Slot {
    epoch: u64,
    /// Checked on read rather than through moka's per-entry expiry policy, which
    /// costs every hit a clock conversion; only entries that have an expiry read the
    /// clock. An expired slot stays until evicted or overwritten, within capacity.
    expiry: Expiry,
    /// Outdated for every version (`expire`), until a write replaces it.
    marked: bool,
    /// Set once moka no longer holds this slot (replaced, removed or evicted).
    retired: AtomicBool,
    /// Which of its front hits read moka (see `touches.rs`).
    touched: Touched,
    record: ErasedRecord,
}

/// When a slot stops being served, and for how long past that it stays a fail-safe
/// fallback. The expiry is an `Instant`, which a hit compares with the clock as it
/// is; the fallback window, read only once the slot has expired, is eight bytes of
/// nanoseconds where a second `Instant` would take sixteen on every entry. The
/// default never expires.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Expiry {
    expires_at: Option<Instant>,
    /// Nanoseconds past `expires_at` that the slot is a fallback (0: not one).
    fallback_nanos: u64,
}

impl Expiry {
    /// For what is written now with `ttl` and `fail_safe`; a time too far to add is
    /// none.
    pub(crate) fn after(ttl: Option<Duration>, fail_safe: Option<Duration>) -> Self {
        Expiry {
            expires_at: ttl.and_then(|ttl| Instant::now().checked_add(ttl)),
            fallback_nanos: fail_safe
                .map_or(0, |max| u64::try_from(max.as_nanos()).unwrap_or(u64::MAX)),
        }
    }

    /// Served until `expires_at`, and no fallback after.
    #[cfg_attr(not(feature = "redis"), allow(dead_code))]
    pub(crate) fn until(expires_at: Instant) -> Self {
        Expiry {
            expires_at: Some(expires_at),
            fallback_nanos: 0,
        }
    }

    /// Whether a slot that expired at `expires_at` is still a fallback `now`.
    #[cold]
    fn is_fallback(&self, expires_at: Instant, now: Instant) -> bool {
        self.fallback_nanos != 0
            && expires_at
                .checked_add(Duration::from_nanos(self.fallback_nanos))
                .is_none_or(|until| now < until)
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
        } else if self.expiry.is_fallback(expires_at, now) {
            Standing::Fallback
        } else {
            Standing::Gone
        }
    }

    fn is_live(&self, epoch: u64) -> bool {
        self.standing(epoch) == Standing::Live
    }

    #[inline]
    fn is_retired(&self) -> bool {
        self.retired.load(Acquire)
    }

    fn retire(&self) {
        self.retired.store(true, Release);
    }
}

impl Slots {
    pub(crate) fn new(max_capacity: u64) -> Self {
        let front = Arc::new(Front::new());
        let evicted = Arc::clone(&front);
        Slots {
            map: Moka::builder()
                .max_capacity(max_capacity)
                // Every cause: a slot we replaced or removed ourselves is already
                // out of the front and retired, and withdrawing compares pointers.
                .eviction_listener(move |locator: Arc<Arc<str>>, slot: Arc<Slot>, _| {
                    evicted.withdraw(&locator, &slot);
                    slot.retire();
                })
                .build_with_hasher(Hasher::default()),
            front,
            stripes: Arc::new(Stripes::new()),
            touches: Touches::new(max_capacity),
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
        self.peek(locator, |_| None::<std::convert::Infallible>)
            .err()
            .flatten()
    }

    /// The record of these types under `locator` lent to `answer`: `Ok` with what it
    /// answered, else `Err` with the record as [`lookup`](Slots::lookup) finds it.
    ///
    /// Read from the front (see [`Slots`] for why that is the store's answer). Some
    /// hits also read moka, so that it still learns which entries are hot (see
    /// `touches.rs`). A miss does not: the front holds all that moka does, and a
    /// fetch that misses reads again before it generates; its one read of moka is
    /// at its write, as a read then insert of moka's own would count it.
    #[inline]
    pub(crate) fn peek<V, T, R>(
        &self,
        locator: &str,
        answer: impl FnOnce(Peeked<'_, V, T>) -> Option<R>,
    ) -> Result<R, Option<Found<V, T>>>
    where
        V: Send + Sync + 'static,
        T: Send + Sync + 'static,
    {
        let mut answer = Some(answer);
        for _ in 0..2 {
            let read = self.front.read(locator, |slot| {
                (!slot.is_retired()).then(|| {
                    let touch = self.touches.wants(&slot.touched);
                    (self.answer(slot, locator, &mut answer), touch)
                })
            });
            match read {
                Some(Some((answered, touch))) => {
                    if touch {
                        self.touch(locator);
                    }
                    return answered;
                }
                // Being replaced or removed right now: its successor, if any, is
                // in the front already.
                Some(None) => continue,
                None => break,
            }
        }
        Err(None)
    }

    /// A read of moka for its admission policy alone: the front has the answer.
    #[cold]
    fn touch(&self, locator: &str) {
        drop(self.map.get(locator));
        self.touches.count();
    }

    /// What a live slot's reader makes of it: `answer`'s answer from the record
    /// lent, or (`answer` declined, or already ran) the record owned.
    #[inline]
    fn answer<V, T, R>(
        &self,
        slot: &Slot,
        locator: &str,
        answer: &mut Option<impl FnOnce(Peeked<'_, V, T>) -> Option<R>>,
    ) -> Result<R, Option<Found<V, T>>>
    where
        V: Send + Sync + 'static,
        T: Send + Sync + 'static,
    {
        let standing = slot.standing(self.epoch());
        if standing == Standing::Gone {
            return Err(None);
        }
        let Some(record) = slot.record.peek::<V, T>() else {
            tracing::debug!(
                locator,
                "entry of other value or version types: treated as a miss"
            );
            return Err(None);
        };
        let (expired, marked) = (standing == Standing::Fallback, slot.marked);
        let peeked = Peeked {
            record,
            expired,
            marked,
        };
        if let Some(answered) = answer.take().and_then(|answer| answer(peeked)) {
            return Ok(answered);
        }
        Err(slot.record.clone().typed().map(|record| Found {
            record,
            expired,
            marked,
        }))
    }

    /// Marks the entry of `locator` outdated for every version; its expiry and
    /// fallback window stay. Nothing to mark: nothing happens.
    pub(crate) fn mark(&self, locator: &str) {
        let _turn = self.stripes.turn(locator);
        let Some(held) = self.held(locator) else {
            return;
        };
        if held.standing(self.epoch()) == Standing::Gone {
            return;
        }
        let marked = Arc::new(Slot {
            epoch: held.epoch,
            expiry: held.expiry,
            marked: true,
            retired: AtomicBool::new(false),
            touched: Touched::default(),
            record: held.record.clone(),
        });
        self.put(Arc::from(locator), &marked, Some(&held));
    }

    /// Stores `record` unless the live slot holds as new a record of these types (the
    /// no-downgrade rule, with `made_since` the time its generation began), a clear
    /// came since `since` (the epoch the caller's read or write began in, if it
    /// matters), or `admit` says no: all decided on the locator's turn, atomically
    /// with the write. `admit` runs last. Says whether it stored.
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
        let _turn = self.stripes.turn(locator);
        // The epoch is read before `admit`: a clear that lands in between leaves this
        // slot with an old epoch, which reads ignore.
        let epoch = self.epoch();
        if since.is_some_and(|since| since != epoch) {
            return false;
        }
        let held = self.held(locator);
        if held.is_none() {
            // The miss that led here, counted once (see `lookup`).
            self.touch(locator);
        }
        if let Some(held) = held.as_ref().filter(|held| held.is_live(epoch)) {
            match held.record.clone().typed::<V, T>() {
                Some(held) if !record.may_replace(&held, made_since) => return false,
                Some(_) => {}
                None => tracing::debug!(
                    locator,
                    "entry of other value or version types: overwritten"
                ),
            }
        }
        if !admit() {
            return false;
        }
        let slot = Arc::new(Slot {
            epoch,
            expiry,
            marked: false,
            retired: AtomicBool::new(false),
            touched: Touched::default(),
            record: ErasedRecord::new(record.clone()),
        });
        self.put(Arc::from(locator), &slot, held.as_ref());
        true
    }

    /// On the locator's turn: the slot moka holds for it, which is the front's (the
    /// front is never behind moka) unless moka has just let it go.
    fn held(&self, locator: &str) -> Option<Arc<Slot>> {
        self.front
            .read(locator, |slot| {
                (!slot.is_retired()).then(|| Arc::clone(slot))
            })
            .flatten()
            .filter(|_| self.map.contains_key(locator))
    }

    /// On the locator's turn: `slot` takes the place of `held`, in the front before
    /// moka holds it (so the front is never behind moka), and `held` is retired
    /// after (so a reader that finds it retired finds `slot` on its retry).
    fn put(&self, key: Arc<str>, slot: &Arc<Slot>, held: Option<&Arc<Slot>>) {
        self.front.publish(Arc::clone(&key), Arc::clone(slot));
        self.map.insert(key, Arc::clone(slot));
        if let Some(held) = held {
            held.retire();
        }
    }

    /// Removes the slot of `locator`, on its turn, so that a concurrent
    /// [`offer`](Slots::offer) lands wholly before or after it.
    pub(crate) fn remove(&self, locator: &str) {
        let _turn = self.stripes.turn(locator);
        take_out(&self.map, &self.front, locator, |_| true);
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
        let front = Arc::clone(&self.front);
        let stripes = Arc::clone(&self.stripes);
        move || {
            for (locator, slot) in map.iter() {
                if slot.epoch < epoch {
                    let _turn = stripes.turn(&locator);
                    take_out(&map, &front, &locator, |slot| slot.epoch < epoch);
                }
            }
        }
    }

    pub(crate) fn entry_count(&self) -> u64 {
        self.map.entry_count()
    }
}

/// On the locator's turn: the slot of `locator`, if `which` says so, out of the
/// front, out of moka, then retired.
fn take_out(
    map: &Moka<Arc<str>, Arc<Slot>, Hasher>,
    front: &Front<Slot, Hasher>,
    locator: &str,
    which: impl Fn(&Slot) -> bool,
) {
    let Some(held) = front.read(locator, Arc::clone) else {
        return;
    };
    if which(&held) {
        front.withdraw(locator, &held);
        map.invalidate(locator);
        held.retire();
    }
}

/// The turns of writes: a lock per stripe of locators.
struct Stripes {
    hasher: Hasher,
    locks: Box<[Mutex<()>]>,
}

impl Stripes {
    fn new() -> Self {
        Stripes {
            hasher: Hasher::default(),
            locks: (0..64).map(|_| Mutex::new(())).collect(),
        }
    }

    /// Held while one write of `locator` reads, decides and writes. A panic on a
    /// turn (in `admit`) leaves nothing half-written, so a poisoned lock is taken.
    fn turn(&self, locator: &str) -> MutexGuard<'_, ()> {
        let stripe = self.hasher.hash_one(locator) as usize % self.locks.len();
        self.locks[stripe]
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests;
