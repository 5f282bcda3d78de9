//! What `#[async_cached]` expansions name, by absolute path. Not a public API.

use std::future::Future;
use std::time::Duration;

pub use crate::Cache;
use crate::FetchOptions;
pub use crate::global;
use crate::store::{Backend, Store};

/// Options for one call of an annotated function.
pub fn options(force_sync: bool, expires_in: Option<Duration>, fingerprint: u64) -> FetchOptions {
    let options = FetchOptions::new()
        .force_sync(force_sync)
        .fingerprint(fingerprint);
    match expires_in {
        Some(ttl) => options.expires_in(ttl),
        None => options,
    }
}

/// `Cache::fetch_with`, reached without method syntax so that no user trait or
/// type in scope can change what it means.
pub async fn fetch<S, V, T, G, Fut>(
    cache: &Cache<S>,
    locator: impl AsRef<str>,
    version: V,
    options: FetchOptions,
    generate: G,
) -> T
where
    S: Backend + Store<V, T>,
    V: Ord + Clone + Send + Sync + 'static,
    T: Clone + Send + Sync + 'static,
    G: FnOnce() -> Fut + Send,
    Fut: Future<Output = T> + Send + 'static,
{
    Cache::fetch_with(cache, locator, version, options, generate).await
}

/// `Cache::try_fetch_with`, for functions returning `Result`.
pub async fn try_fetch<S, V, T, E, G, Fut>(
    cache: &Cache<S>,
    locator: impl AsRef<str>,
    version: V,
    options: FetchOptions,
    generate: G,
) -> Result<T, E>
where
    S: Backend + Store<V, T>,
    V: Ord + Clone + Send + Sync + 'static,
    T: Clone + Send + Sync + 'static,
    E: Send + 'static,
    G: FnOnce() -> Fut + Send,
    Fut: Future<Output = Result<T, E>> + Send + 'static,
{
    Cache::try_fetch_with(cache, locator, version, options, generate).await
}

/// An argument moved into a generation: it must be `Send + 'static` to outlive the
/// call in a background refresh. (The expansion spans this call on the argument, so
/// a missing bound points at it.)
#[inline(always)]
pub fn owned<T: Send + 'static>(value: T) -> T {
    value
}

/// An argument cloned into a generation, because an expression evaluated before the
/// fetch (`locator`, `version`, ...) may still borrow it; also `&self`.
#[inline(always)]
pub fn cloned<T: Clone + Send + Sync + 'static>(value: &T) -> T {
    T::clone(value)
}

/// A borrowed argument (`&str`, `&[T]`, `&T`) owned through `ToOwned`; the body sees
/// it re-borrowed, with its original type, through [`Borrowed::get`].
#[inline(always)]
pub fn to_owned<B>(value: &B) -> Borrowed<B>
where
    B: ?Sized + ToOwned + Sync + 'static,
    B::Owned: Send + 'static,
{
    Borrowed(B::to_owned(value))
}

/// The owned form of a borrowed argument.
pub struct Borrowed<B: ?Sized + ToOwned>(B::Owned);

impl<B: ?Sized + ToOwned> Borrowed<B> {
    /// The argument as the body sees it.
    #[inline(always)]
    pub fn get(&self) -> &B {
        std::borrow::Borrow::borrow(&self.0)
    }
}
