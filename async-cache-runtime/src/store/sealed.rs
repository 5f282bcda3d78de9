//! The private half of the store traits, as tokio seals `ToSocketAddrs`: the
//! methods, and the types they name, are `pub` in a module no one outside the crate
//! can reach, so the public traits can be named but not implemented or called.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::runtime::Handle;

use super::Record;

/// What a store is built from: the builder's settings that stores read.
pub struct StoreSettings {
    pub(crate) max_capacity: u64,
    #[cfg_attr(not(feature = "redis"), allow(dead_code))]
    pub(crate) runtime: Option<Handle>,
}

/// What a read finds, with the entry's standing (contract §6).
pub type Lookup<V, T> = Result<Option<Found<V, T>>, StoreError>;

/// A record as found, with what its slot says of it.
pub struct Found<V, T> {
    pub(crate) record: Arc<Record<V, T>>,
    /// Past its expiry, kept only as a fail-safe fallback.
    pub(crate) expired: bool,
    /// Marked outdated by `expire`.
    pub(crate) marked: bool,
}

impl<V, T> Found<V, T> {
    /// The record lent, as [`StorePriv::peek`] lends it.
    pub(crate) fn peeked(&self) -> Peeked<'_, V, T> {
        Peeked {
            record: &self.record,
            expired: self.expired,
            marked: self.marked,
        }
    }
}

/// A record lent by the store for the length of one read, with what its slot says
/// of it: what a fresh hit needs, without a reference count to take and give back.
pub struct Peeked<'r, V, T> {
    pub(crate) record: &'r Record<V, T>,
    /// Past its expiry, kept only as a fail-safe fallback.
    pub(crate) expired: bool,
    /// Marked outdated by `expire`.
    pub(crate) marked: bool,
}

impl<V, T> Clone for Peeked<'_, V, T> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<V, T> Copy for Peeked<'_, V, T> {}

/// What [`StorePriv::peek`] did: answered the read from the lent record, or looked
/// it up as [`StorePriv::lookup`] does, for the rest of the fetch.
pub enum Peek<'a, R, V, T> {
    Answered(R),
    Looked(StoreFuture<'a, Lookup<V, T>>),
}

/// What a write carries besides the record: the options of the call that wrote it.
#[derive(Clone, Copy, Debug, Default)]
pub struct WriteOptions {
    /// Hard expiry of the entry.
    pub(crate) expires_in: Option<Duration>,
    /// How long the entry stays a fallback past its expiry.
    pub(crate) fail_safe: Option<Duration>,
    /// When the generation began, as a [`tick`](super::record::tick): a same-version
    /// entry made since stays.
    pub(crate) since: Option<u64>,
}

/// A store read or write that failed or timed out. The fetch goes on without the
/// store (the caller generates) and the fault is counted in
/// [`Stats::store_errors`](crate::Stats::store_errors).
#[derive(Debug)]
pub struct StoreError(pub(crate) String);

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Called by a store inside its atomic write section: `false` when the write must be
/// discarded because its locator was invalidated since the generation began.
pub type StillValid<'a> = &'a (dyn Fn() -> bool + Sync);

/// What a typed store operation returns: done at once (in memory, without an
/// allocation), or a boxed future (over a network, where the box is noise).
///
/// A concrete type rather than `impl Future` in the trait: rustc cannot prove an
/// opaque future `Send` for all lifetimes when the store's impl has `'static` bounds
/// and the value type holds a reference (say `&'static str`), which made every
/// `tokio::spawn` of such a fetch fail to compile.
pub enum StoreFuture<'a, O> {
    Ready(Option<O>),
    #[cfg_attr(not(feature = "redis"), allow(dead_code))]
    Boxed(Pin<Box<dyn Future<Output = O> + Send + 'a>>),
}

impl<O> StoreFuture<'_, O> {
    pub(crate) fn ready(output: O) -> Self {
        StoreFuture::Ready(Some(output))
    }

    /// The output if it is ready at once (in memory), without a poll; else the future.
    #[inline]
    pub(crate) fn now(self) -> Result<O, Self> {
        match self {
            StoreFuture::Ready(Some(output)) => Ok(output),
            pending => Err(pending),
        }
    }
}

// The output is only ever moved out, never pinned.
impl<O> Unpin for StoreFuture<'_, O> {}

impl<O> Future for StoreFuture<'_, O> {
    type Output = O;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<O> {
        match self.get_mut() {
            StoreFuture::Ready(output) => {
                Poll::Ready(output.take().expect("StoreFuture polled after completion"))
            }
            StoreFuture::Boxed(future) => future.as_mut().poll(cx),
        }
    }
}

/// The methods of [`Backend`](super::Backend).
pub trait BackendPriv: Send + Sync + Sized + 'static {
    /// What the builder collects for this store beyond the common settings.
    type Config: Default + fmt::Debug;

    /// Held while a background refresh runs, so that one runs across processes.
    type RefreshLock: Send + 'static;

    fn build(settings: StoreSettings, config: Self::Config) -> Self;

    fn remove(&self, locator: &str) -> impl Future<Output = Result<(), StoreError>> + Send;

    fn clear(&self);

    /// Marks the entry of `locator` outdated for every version, keeping it as a
    /// fallback (contract §6.6). A store without marks removes it instead.
    fn expire(&self, locator: &str) -> impl Future<Output = Result<(), StoreError>> + Send {
        self.remove(locator)
    }

    /// Takes the store-wide claim on refreshing `locator`: `Ok(None)` when another
    /// process holds it (the caller then skips its refresh). In-process
    /// deduplication happens before this; a store shared by no one always grants it.
    fn lock_refresh(
        &self,
        locator: &str,
    ) -> impl Future<Output = Result<Option<Self::RefreshLock>, StoreError>> + Send;

    /// Releases a claim taken by `lock_refresh`. A claim never released (its
    /// process died) must expire by itself.
    fn unlock_refresh(
        &self,
        locator: &str,
        lock: Self::RefreshLock,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
}

/// Held by the caller that generates a missing entry while other processes wait for
/// it (cross-process miss coalescing): dropping it releases the store-wide claim, at
/// once when the generation fails, panics or is cancelled, after the write when it
/// succeeds.
pub struct MissGuard(#[allow(dead_code)] Box<dyn Send + Sync>);

impl MissGuard {
    #[cfg_attr(not(feature = "redis"), allow(dead_code))]
    pub(crate) fn new(release_on_drop: impl Send + Sync + 'static) -> Self {
        MissGuard(Box::new(release_on_drop))
    }
}

/// What [`StorePriv::lock_miss`] found.
pub enum MissLock<V, T> {
    /// This caller generates for every process: hold the guard until the write is
    /// done.
    Lead(MissGuard),
    /// Another process's generation of the same or a newer version landed while this
    /// one waited: its record (the caller is answered with it, counted as a miss).
    Landed(Arc<Record<V, T>>),
    /// Generate without a store-wide claim: a store shared by no one, a fault, a
    /// generation elsewhere of an older version, or one that outlived the wait.
    Generate,
}

/// The methods of [`Store`](super::Store).
pub trait StorePriv<V, T>: BackendPriv {
    /// The record under `locator`, if one of these types is stored, with its standing
    /// (expired but a fallback, marked by `expire`). A store that keeps no fallbacks
    /// and no marks finds every record live.
    fn lookup<'a>(&'a self, locator: &'a str) -> StoreFuture<'a, Lookup<V, T>>;

    /// A read that `answer` may finish with the record lent, where the store holds
    /// it in this process: `Some` is the answer; `None` (or a record not held here)
    /// goes on as [`lookup`](StorePriv::lookup). `answer` runs at most once.
    #[inline]
    fn peek<'a, R>(
        &'a self,
        locator: &'a str,
        answer: impl FnOnce(Peeked<'_, V, T>) -> Option<R>,
    ) -> Peek<'a, R, V, T> {
        let _ = answer;
        Peek::Looked(self.lookup(locator))
    }

    /// Whether a caller that wants `version` of the build `fingerprint` may be served
    /// `record`. A store that knows which of two builds is newer (the shared tier)
    /// refines the equal-version case; in memory it is the record's own rule.
    #[inline]
    fn is_current(&self, record: &Record<V, T>, version: &V, fingerprint: u64) -> bool
    where
        V: Ord,
    {
        record.is_current_for(version, fingerprint)
    }

    /// Cross-process miss coalescing: called by the caller that leads a generation in
    /// this process (after its re-read under the claim found nothing current, before
    /// the generator runs). A store shared by no one (memory) answers
    /// [`MissLock::Generate`] at once, without an allocation.
    #[inline]
    fn lock_miss<'a>(
        &'a self,
        locator: &'a str,
        version: &'a V,
        fingerprint: u64,
    ) -> StoreFuture<'a, MissLock<V, T>> {
        let _ = (locator, version, fingerprint);
        StoreFuture::ready(MissLock::Generate)
    }

    /// Writes `record` with the writing call's options unless the stored entry is as
    /// new (the no-downgrade rule) or `still_valid` answers `false`, both decided
    /// atomically with the write; says whether it was stored (a store that cannot
    /// tell says `true`).
    fn write_with<'a>(
        &'a self,
        locator: &'a str,
        record: &'a Arc<Record<V, T>>,
        options: WriteOptions,
        still_valid: StillValid<'a>,
    ) -> StoreFuture<'a, Result<bool, StoreError>>;
}
