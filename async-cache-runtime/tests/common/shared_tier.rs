//! Helpers of the shared tier's tests, over one server or a cluster alike.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};

use async_cache_runtime::{Cache, FetchOptions, Redis, Served};

/// Counts the runs of the generators it makes.
#[derive(Clone, Default)]
pub struct Runs(Arc<AtomicUsize>);

impl Runs {
    /// A generator that counts its runs (not the making of its future, which a
    /// refresh skipped as superseded or locked elsewhere never polls).
    pub fn make(
        &self,
        value: &str,
    ) -> impl FnOnce() -> Pin<Box<dyn Future<Output = String> + Send>> + Send + use<> {
        let runs = self.0.clone();
        let value = value.to_string();
        move || {
            Box::pin(async move {
                runs.fetch_add(1, SeqCst);
                value
            })
        }
    }

    pub fn get(&self) -> usize {
        self.0.load(SeqCst)
    }
}

/// A fetch of `version` whose generator makes `"generated"`, counted by `runs`.
pub async fn served(
    cache: &Cache<Redis>,
    locator: &str,
    version: u64,
    runs: &Runs,
) -> (String, Served) {
    cache
        .fetch_served(
            locator,
            version,
            FetchOptions::new(),
            runs.make("generated"),
        )
        .await
}
