//! What a store holds: a typed [`Record`], and the one type-erased form in which the
//! memory store, the near cache and the flights keep records of any types.

use std::any::Any;
use std::cmp::Ordering;
use std::sync::atomic::{
    AtomicI64, AtomicU64, Ordering::AcqRel, Ordering::Acquire, Ordering::SeqCst,
};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use tokio::time::Instant;

/// An entry: the value, the version it was generated for, a fingerprint of the code
/// that generated it (`0` when unknown), and when it was made (its value landed).
#[derive(Debug)]
pub struct Record<V, T> {
    pub(crate) version: V,
    pub(crate) value: T,
    pub(crate) fingerprint: u64,
    /// When its value landed. An `Instant` rather than a [`moment`] (half its
    /// size): a hit with `refresh_after` compares it with the clock, and turning the
    /// clock's reading into a moment cost that hit more than the bytes are worth.
    written_at: Instant,
    /// Its place in the order of makes in this process (see [`tick`]).
    pub(crate) made: u64,
    /// The first stale read of this record, as a [`moment`] ([`NOT_YET`] before it):
    /// refresh lag is measured from it. A new write is a new record, so this is
    /// "since it was last written".
    first_stale_read: AtomicI64,
}

/// No stale read yet.
const NOT_YET: i64 = i64::MIN;

/// A point in the order of makes: every record made after it was taken has a greater
/// `made`. A clock alone would not do, as two instants can be equal (a paused test
/// clock, a coarse one): the tick is the clock's reading in nanoseconds, pushed past
/// the previous tick when it does not move, so this order is strict.
pub(crate) fn tick() -> u64 {
    tick_at(Instant::now())
}

static MAKES: AtomicU64 = AtomicU64::new(1);

fn tick_at(now: Instant) -> u64 {
    let at = made_at(now);
    let previous = MAKES
        .fetch_update(SeqCst, SeqCst, |last| Some(last.max(at - 1) + 1))
        .unwrap_or_else(|last| last);
    previous.max(at - 1) + 1
}

/// Where in the order of makes a record made at `at` stands, without taking a tick:
/// for a record made elsewhere (another process, the shared tier), whose time of
/// making this process learns afterwards. Ticks taken after `at` are greater (as
/// long as ticks did not outrun the clock, which only a clock that stands still
/// makes them do); ticks taken before are not.
pub(crate) fn made_at(at: Instant) -> u64 {
    let nanos = at.saturating_duration_since(origin()).as_nanos();
    u64::try_from(nanos).unwrap_or(u64::MAX - 1) + 1
}

/// The instant this process's moments count from: the first one it asked for.
fn origin() -> Instant {
    static ORIGIN: OnceLock<Instant> = OnceLock::new();
    *ORIGIN.get_or_init(Instant::now)
}

/// `at` in nanoseconds from the [`origin`], either side of it (a test's paused clock
/// can stand before it), exactly as [`instant`] gives it back: eight bytes where an
/// `Instant` takes sixteen. The far future and past are cut a few centuries off,
/// short of `i64`'s ends, which leaves `i64::MIN` free as "not yet".
fn moment(at: Instant) -> i64 {
    let origin = origin();
    match at.checked_duration_since(origin) {
        Some(after) => nanos(after),
        None => -nanos(origin.duration_since(at)),
    }
}

/// `duration` in nanoseconds, cut short of `i64::MAX`.
fn nanos(duration: Duration) -> i64 {
    const MAX_SECS: u64 = (i64::MAX / 1_000_000_000) as u64 - 1;
    let secs = duration.as_secs().min(MAX_SECS) as i64;
    secs * 1_000_000_000 + i64::from(duration.subsec_nanos())
}

/// The instant of a [`moment`].
fn instant(moment: i64) -> Instant {
    let origin = origin();
    let nanos = Duration::from_nanos(moment.unsigned_abs());
    if moment >= 0 {
        origin.checked_add(nanos)
    } else {
        origin.checked_sub(nanos)
    }
    .unwrap_or(origin)
}

impl<V, T> Record<V, T> {
    pub(crate) fn new(version: V, value: T, fingerprint: u64) -> Self {
        let now = Instant::now();
        Record {
            version,
            value,
            fingerprint,
            written_at: now,
            made: tick_at(now),
            first_stale_read: AtomicI64::new(NOT_YET),
        }
    }

    /// A record whose value landed at `written_at`, elsewhere: read back from the
    /// shared tier, with its age mapped onto this process's clock.
    #[cfg_attr(not(feature = "redis"), allow(dead_code))]
    pub(crate) fn made_earlier(
        version: V,
        value: T,
        fingerprint: u64,
        written_at: Instant,
    ) -> Self {
        Record {
            version,
            value,
            fingerprint,
            written_at,
            made: made_at(written_at),
            first_stale_read: AtomicI64::new(NOT_YET),
        }
    }

    /// When the value landed.
    #[cfg_attr(not(feature = "redis"), allow(dead_code))]
    pub(crate) fn written_at(&self) -> Instant {
        self.written_at
    }

    /// How long ago the value landed.
    pub(crate) fn age(&self) -> Duration {
        self.written_at.elapsed()
    }

    /// Whether the value landed `age` ago or longer: as `self.age() >= age`, with an
    /// addition where the age takes a subtraction that checks its order first.
    #[inline]
    pub(crate) fn is_as_old_as(&self, age: Duration) -> bool {
        self.written_at
            .checked_add(age)
            .is_some_and(|due| Instant::now() >= due)
    }

    /// Marks a stale read of this record; returns the first one's time.
    pub(crate) fn stale_read(&self) -> Instant {
        let first = self.first_stale_read.load(Acquire);
        if first != NOT_YET {
            return instant(first);
        }
        let now = moment(Instant::now());
        match self
            .first_stale_read
            .compare_exchange(NOT_YET, now, AcqRel, Acquire)
        {
            Ok(_) => instant(now),
            Err(first) => instant(first),
        }
    }
}

impl<V: Ord, T> Record<V, T> {
    /// Whether a caller that wants `version` of the code `fingerprint` may be served
    /// this record. An equal or *older* requested version counts as current (a
    /// lagging replica never causes a refresh storm); a record of other code is
    /// outdated at an equal version.
    pub(crate) fn is_current_for(&self, version: &V, fingerprint: u64) -> bool {
        match version.cmp(&self.version) {
            Ordering::Less => true,
            Ordering::Equal => {
                fingerprint == 0 || self.fingerprint == 0 || fingerprint == self.fingerprint
            }
            Ordering::Greater => false,
        }
    }

    /// The no-downgrade rule: whether `self` may replace `stored`. A newer version
    /// always may, an older one never; at an equal version, a record of other code
    /// may, and so may a newer make (contract §6.1, §6.6): one whose generation began
    /// (`since`, a [`tick`]) after `stored` was made.
    pub(crate) fn may_replace(&self, stored: &Self, since: Option<u64>) -> bool {
        if !stored.is_current_for(&self.version, self.fingerprint) {
            return true;
        }
        self.version == stored.version && since.is_some_and(|since| stored.made < since)
    }
}

/// A record of types known only to whoever stored it.
#[derive(Clone)]
pub(crate) struct ErasedRecord(Arc<dyn Any + Send + Sync>);

impl ErasedRecord {
    pub(crate) fn new<V, T>(record: Arc<Record<V, T>>) -> Self
    where
        V: Send + Sync + 'static,
        T: Send + Sync + 'static,
    {
        ErasedRecord(record)
    }

    /// The record lent, if it is of these types: no reference count taken.
    #[inline]
    pub(crate) fn peek<V, T>(&self) -> Option<&Record<V, T>>
    where
        V: Send + Sync + 'static,
        T: Send + Sync + 'static,
    {
        self.0.downcast_ref()
    }

    /// The record, if it is of these types. Callers that only look
    /// [`peek`](ErasedRecord::peek) instead.
    #[inline]
    pub(crate) fn typed<V, T>(self) -> Option<Arc<Record<V, T>>>
    where
        V: Send + Sync + 'static,
        T: Send + Sync + 'static,
    {
        self.0.downcast().ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A moment gives its instant back exactly, on either side of the origin.
    #[tokio::test(start_paused = true)]
    async fn moments_give_their_instants_back() {
        let now = Instant::now();
        for at in [
            Some(now),
            now.checked_add(Duration::from_nanos(123_456_789)),
            origin().checked_sub(Duration::from_nanos(987_654_321)),
            origin().checked_add(Duration::from_secs(86_400 * 365)),
        ]
        .into_iter()
        .flatten()
        {
            assert_eq!(instant(moment(at)), at);
        }
        assert!(moment(now) < moment(now + Duration::from_nanos(1)));
        assert_eq!(nanos(Duration::new(3, 7)), 3_000_000_007);
        assert!(
            nanos(Duration::MAX) < i64::MAX,
            "far off, and never \"never\""
        );
    }

    /// A clock that stands still (paused) must not make two makes equal.
    #[tokio::test(start_paused = true)]
    async fn ticks_are_strict_where_the_clock_stands_still() {
        let (first, second) = (tick(), tick());
        assert!(first < second);
        let record = Record::new(1_u64, "v", 0);
        assert!(record.made > second);
    }

    /// A record made elsewhere stands where it was written: after the ticks taken
    /// before that, before the ticks taken after.
    #[tokio::test(start_paused = true)]
    async fn a_record_made_elsewhere_stands_where_it_was_written() {
        let before = tick();
        tokio::time::advance(Duration::from_millis(10)).await;
        let written_at = Instant::now();
        tokio::time::advance(Duration::from_millis(10)).await;
        let after = tick();
        let record = Record::made_earlier(1_u64, "v", 0, written_at);
        assert_eq!(record.written_at(), written_at, "kept to the nanosecond");
        assert!(before < record.made && record.made < after);
        assert_eq!(record.age(), Duration::from_millis(10));
        if let Some(long_ago) = written_at.checked_sub(Duration::from_secs(3600)) {
            let long_ago = Record::made_earlier(1_u64, "v", 0, long_ago);
            assert!(long_ago.made <= record.made, "as old as the order goes");
        }
    }
}
