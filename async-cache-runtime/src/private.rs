//! What `#[async_cached]` expansions name, by absolute path. Not a public API.

use std::future::Future;
use std::time::Duration;

pub use crate::global;
use crate::store::{Backend, Store};
use crate::{Cache, FetchOptions};

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
