//! The generation number under `{prefix}gen`, which `invalidate_all` increments, and
//! the sweep that frees the entries of older generations.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::SeqCst};

use tokio::runtime::Handle;

use super::Shared;
use crate::store::StoreError;

/// The clears this process asked for, and how many of them have reached Redis.
#[derive(Default)]
pub(super) struct Generation {
    /// Bumped by `clear`.
    requested: AtomicU64,
    /// The count of clears whose generation increment Redis has acknowledged.
    synced: AtomicU64,
    gate: tokio::sync::Mutex<()>,
}

impl Generation {
    pub(super) fn request_clear(&self) {
        self.requested.fetch_add(1, SeqCst);
    }
}

impl Shared {
    /// Makes the clears of this process reach Redis before anything else does: one
    /// `INCR` of the generation for all clears since the last one.
    pub(super) async fn sync_clear(self: &Arc<Self>) -> Result<(), StoreError> {
        let generation = &self.generation;
        if generation.synced.load(SeqCst) >= generation.requested.load(SeqCst) {
            return Ok(());
        }
        let _gate = generation.gate.lock().await;
        let target = generation.requested.load(SeqCst);
        if generation.synced.load(SeqCst) >= target {
            return Ok(());
        }
        let key = self.gen_key.clone();
        let number = self
            .link
            .run(move |mut conn| async move {
                redis::cmd("INCR")
                    .arg(&key)
                    .query_async::<u64>(&mut conn)
                    .await
            })
            .await?;
        generation.synced.fetch_max(target, SeqCst);
        if let Some(runtime) = self.runtime() {
            let shared = self.clone();
            drop(runtime.spawn(async move { shared.sweep(number).await }));
        }
        Ok(())
    }

    /// A runtime to run Redis work in the background: the caller's, else the
    /// builder's.
    pub(super) fn runtime(&self) -> Option<Handle> {
        Handle::try_current().ok().or_else(|| self.link.runtime())
    }

    /// Frees the entries of generations before `generation` (best effort).
    async fn sweep(self: Arc<Self>, generation: u64) {
        let pattern = format!("{}[0-9]*", glob_escape(&self.prefix));
        let prefix_len = self.prefix.len();
        let mut cursor = 0_u64;
        let mut swept = 0_usize;
        loop {
            let pattern = pattern.clone();
            let scanned = self
                .link
                .run(move |mut conn| async move {
                    redis::cmd("SCAN")
                        .arg(cursor)
                        .arg("MATCH")
                        .arg(&pattern)
                        .arg("COUNT")
                        .arg(1000)
                        .query_async::<(u64, Vec<Vec<u8>>)>(&mut conn)
                        .await
                })
                .await;
            let (next, keys) = match scanned {
                Ok(page) => page,
                Err(error) => {
                    tracing::debug!(%error, "sweep of invalidated entries stopped");
                    return;
                }
            };
            let old: Vec<Vec<u8>> = keys
                .into_iter()
                .filter(|key| key_generation(&key[prefix_len..]).is_some_and(|g| g < generation))
                .collect();
            if !old.is_empty() {
                swept += old.len();
                let unlinked = self
                    .link
                    .run(move |mut conn| async move {
                        redis::cmd("UNLINK")
                            .arg(&old)
                            .query_async::<u64>(&mut conn)
                            .await
                    })
                    .await;
                if let Err(error) = unlinked {
                    tracing::debug!(%error, "sweep of invalidated entries stopped");
                    return;
                }
            }
            cursor = next;
            if cursor == 0 {
                break;
            }
        }
        tracing::debug!(swept, generation, "invalidated entries swept");
    }
}

/// The generation of an entry key (the part after the prefix): digits, then `:`.
fn key_generation(rest: &[u8]) -> Option<u64> {
    let colon = rest.iter().position(|&b| b == b':')?;
    std::str::from_utf8(&rest[..colon]).ok()?.parse().ok()
}

/// `prefix` as a literal in a `SCAN MATCH` pattern.
fn glob_escape(prefix: &str) -> String {
    let mut escaped = String::with_capacity(prefix.len());
    for c in prefix.chars() {
        if matches!(c, '*' | '?' | '[' | ']' | '\\') {
            escaped.push('\\');
        }
        escaped.push(c);
    }
    escaped
}
