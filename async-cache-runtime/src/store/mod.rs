//! Where entries live. The strategy and the refresh machinery are written once over
//! the [`Store`] trait; the stores themselves only read, write under the no-downgrade
//! rule, and remove.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use crate::builder::Settings;

mod memory;
pub use memory::Memory;
#[cfg(feature = "redis")]
mod redis;
#[cfg(feature = "redis")]
pub use redis::{
    DEFAULT_COMMAND_TIMEOUT, DEFAULT_FAULT_BACKOFF, DEFAULT_KEY_PREFIX, DEFAULT_MAX_VALUE_BYTES,
    DEFAULT_REFRESH_LOCK_TTL, Redis, RedisConfig, RefreshToken,
};

/// An entry: the value, the version it was generated for, and a fingerprint of the
/// code that generated it (`0` when unknown).
#[doc(hidden)]
#[derive(Debug)]
pub struct Record<V, T> {
    pub version: V,
    pub value: T,
    pub fingerprint: u64,
}

impl<V: Ord, T> Record<V, T> {
    /// Whether a caller that wants `version` of the code `fingerprint` may be served
    /// this record. An equal or *older* requested version counts as current (a
    /// lagging replica never causes a refresh storm); a record of other code is
    /// outdated at an equal version.
    pub(crate) fn is_current_for(&self, version: &V, fingerprint: u64) -> bool {
        match version.cmp(&self.version) {
            std::cmp::Ordering::Less => true,
            std::cmp::Ordering::Equal => fingerprint == 0 || fingerprint == self.fingerprint,
            std::cmp::Ordering::Greater => false,
        }
    }

    /// The no-downgrade rule: whether `self` may replace `stored`.
    pub(crate) fn may_replace(&self, stored: &Self) -> bool {
        !stored.is_current_for(&self.version, self.fingerprint)
    }
}

/// What a read finds: a record, nothing usable, or a fault.
#[doc(hidden)]
pub type Read<V, T> = Result<Option<Arc<Record<V, T>>>, StoreError>;

/// A store read or write that failed or timed out. The fetch goes on without the
/// store (the caller generates) and the fault is counted in
/// [`Stats::store_errors`](crate::Stats::store_errors).
#[doc(hidden)]
#[derive(Debug)]
pub struct StoreError(pub String);

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Called by a store inside its atomic write section: `false` when the write must be
/// discarded because its locator was invalidated since the generation began.
#[doc(hidden)]
pub type StillValid<'a> = &'a (dyn Fn() -> bool + Sync);

/// What a typed store operation returns: done at once (in memory, without an
/// allocation), or a boxed future (over a network, where the box is noise).
///
/// A concrete type rather than `impl Future` in the trait: rustc cannot prove an
/// opaque future `Send` for all lifetimes when the store's impl has `'static` bounds
/// and the value type holds a reference (say `&'static str`), which made every
/// `tokio::spawn` of such a fetch fail to compile.
#[doc(hidden)]
pub enum StoreFuture<'a, O> {
    Ready(Option<O>),
    Boxed(Pin<Box<dyn Future<Output = O> + Send + 'a>>),
}

impl<O> StoreFuture<'_, O> {
    pub(crate) fn ready(output: O) -> Self {
        StoreFuture::Ready(Some(output))
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

mod sealed {
    pub trait Sealed {}
}

/// The part of a store that does not depend on the cached types. Sealed: implemented
/// by [`Memory`] and, with the `redis` feature, the shared tier.
pub trait Backend: sealed::Sealed + Send + Sync + Sized + 'static {
    /// What the builder collects for this store beyond the common settings.
    #[doc(hidden)]
    type Config: Default + fmt::Debug;

    #[doc(hidden)]
    fn build(settings: &Settings, config: Self::Config) -> Self;

    #[doc(hidden)]
    fn remove(&self, locator: &str) -> impl Future<Output = Result<(), StoreError>> + Send;

    #[doc(hidden)]
    fn clear(&self);

    /// Held while a background refresh runs, so that one runs across processes.
    #[doc(hidden)]
    type RefreshLock: Send + 'static;

    /// Takes the store-wide claim on refreshing `locator`: `Ok(None)` when another
    /// process holds it (the caller then skips its refresh). In-process
    /// deduplication happens before this; a store shared by no one always grants it.
    #[doc(hidden)]
    fn lock_refresh(
        &self,
        locator: &str,
    ) -> impl Future<Output = Result<Option<Self::RefreshLock>, StoreError>> + Send;

    /// Releases a claim taken by [`lock_refresh`](Backend::lock_refresh). A claim
    /// never released (its process died) must expire by itself.
    #[doc(hidden)]
    fn unlock_refresh(
        &self,
        locator: &str,
        lock: Self::RefreshLock,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
}

/// A store that can hold values of type `T` at versions of type `V`: every type for
/// [`Memory`], serde types for the shared tier. Sealed.
pub trait Store<V, T>: Backend {
    #[doc(hidden)]
    fn read<'a>(&'a self, locator: &'a str) -> StoreFuture<'a, Read<V, T>>;

    /// Writes `record` unless the stored entry is as new (the no-downgrade rule) or
    /// `still_valid` answers `false`, both decided atomically with the write.
    #[doc(hidden)]
    fn write<'a>(
        &'a self,
        locator: &'a str,
        record: &'a Arc<Record<V, T>>,
        expires_in: Option<Duration>,
        still_valid: StillValid<'a>,
    ) -> StoreFuture<'a, Result<(), StoreError>>;
}
