//! The process-wide default cache that annotated functions use when they name no
//! `cache`.

use std::sync::OnceLock;

use crate::Cache;

static GLOBAL: OnceLock<Cache> = OnceLock::new();

/// The process-wide default cache, made with [`Cache::new`] on first use unless
/// [`set_global`] configured it before. Annotated functions use it when they name no
/// `cache`.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let n = async_cache_runtime::global().fetch("answer", 1, || async { 42 }).await;
/// assert_eq!(n, 42);
/// # }
/// ```
pub fn global() -> &'static Cache {
    GLOBAL.get_or_init(Cache::new)
}

/// Makes `cache` the process-wide default. Call it once, before first use of
/// [`global`] (in `main`, say); if the default is already set, `cache` is handed back.
///
/// ```
/// use async_cache_runtime::{Cache, set_global};
///
/// let configured = Cache::builder().max_capacity(100_000).build();
/// assert!(set_global(configured).is_ok());
/// assert!(set_global(Cache::new()).is_err(), "only once");
/// ```
pub fn set_global(cache: Cache) -> Result<(), Cache> {
    GLOBAL.set(cache)
}
