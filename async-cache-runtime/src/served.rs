//! How one fetch was served ([`Served`]), and the task-local that
//! [`Served::capture`] reads it from.

use std::cell::Cell;
use std::future::Future;

/// How a fetch was served: what a web service puts in an `x-cache` header.
///
/// Returned by [`Cache::fetch_served`](crate::Cache::fetch_served) and
/// [`Cache::try_fetch_served`](crate::Cache::try_fetch_served), and observed around any
/// future, annotated functions included, by [`Served::capture`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Served {
    /// A current entry was served.
    Hit,
    /// An outdated entry was served at once (a background refresh was scheduled,
    /// joined or dropped).
    Stale,
    /// Nothing usable was stored: the value was generated in the caller (or in a
    /// caller it joined).
    Miss,
    /// An outdated entry was regenerated in the caller (`force_sync`, or no worker).
    Sync,
    /// A fallback was served: the generation failed or timed out softly, or the
    /// fail-safe throttle held (contract §6.2, §6.3).
    FailSafe,
}

impl Served {
    /// The lowercase name: `hit`, `stale`, `miss`, `sync` or `fail_safe`.
    pub fn as_str(self) -> &'static str {
        match self {
            Served::Hit => "hit",
            Served::Stale => "stale",
            Served::Miss => "miss",
            Served::Sync => "sync",
            Served::FailSafe => "fail_safe",
        }
    }

    /// Runs `future` and reports how the last fetch that completed inside it was
    /// served (for nested fetches, the outermost), or `None` if none completed.
    /// Fetches made by background refreshes run in other tasks and are not seen.
    ///
    /// ```
    /// use async_cache_runtime::{Cache, Served};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let cache = Cache::new();
    /// let render = || cache.fetch("page", 1, || async { "<h1>hi</h1>" });
    /// let (_, first) = Served::capture(render()).await;
    /// let (_, second) = Served::capture(render()).await;
    /// assert_eq!((first, second), (Some(Served::Miss), Some(Served::Hit)));
    /// # }
    /// ```
    pub async fn capture<F: Future>(future: F) -> (F::Output, Option<Served>) {
        LAST_SERVED
            .scope(Cell::new(None), async move {
                let output = future.await;
                (output, LAST_SERVED.with(Cell::get))
            })
            .await
    }

    #[inline]
    pub(crate) fn record(self) {
        let _ = LAST_SERVED.try_with(|last| last.set(Some(self)));
    }
}

impl std::fmt::Display for Served {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

tokio::task_local! {
    static LAST_SERVED: Cell<Option<Served>>;
}
