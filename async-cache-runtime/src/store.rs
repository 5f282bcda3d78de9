//! Where entries live. The strategy and the refresh machinery are written once over
//! the [`Store`] trait; the stores themselves only read, write under the no-downgrade
//! rule, remove, clear, and (the shared tier) lock refreshes across processes.
//!
//! The traits are sealed as tokio seals `ToSocketAddrs`: a public trait users can
//! name in bounds, over a private one that carries the methods.

mod front;
mod memory;
pub(crate) mod record;
mod slots;
mod touches;
pub use memory::Memory;
pub(crate) use record::{ErasedRecord, Record};
#[cfg(feature = "redis")]
mod redis;
#[cfg(feature = "redis")]
pub use redis::{
    DEFAULT_COMMAND_TIMEOUT, DEFAULT_FAULT_BACKOFF, DEFAULT_KEY_PREFIX, DEFAULT_MAX_VALUE_BYTES,
    DEFAULT_REFRESH_LOCK_TTL, Redis,
};

/// The part of a store that does not depend on the cached types: [`Memory`] and, with
/// the `redis` feature, the shared tier. Sealed.
pub trait Backend: sealed::BackendPriv {}

/// A store that can hold values of type `T` at versions of type `V`: every type for
/// [`Memory`], serde types for the shared tier. Sealed. Name it to be generic over
/// the store:
///
/// ```
/// use async_cache_runtime::Cache;
/// use async_cache_runtime::store::Store;
///
/// async fn greeting<S: Store<u64, String>>(cache: &Cache<S>) -> String {
///     cache.fetch("greeting", 1_u64, || async { "hello".to_string() }).await
/// }
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() { assert_eq!(greeting(&Cache::new()).await, "hello"); }
/// ```
pub trait Store<V, T>: Backend + sealed::StorePriv<V, T> {}

pub(crate) mod sealed;
pub(crate) use sealed::{StillValid, StoreError, StoreFuture, StoreSettings};
