//! The generations, one per bucket under `{prefix}swr:{<tag>}:gen`, which
//! `invalidate_all` increments, and the sweep that frees the entries of older
//! generations.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::SeqCst};

use futures_util::{StreamExt, TryStreamExt};
use tokio::runtime::Handle;

use super::Shared;
use super::link::Node;
use crate::store::StoreError;

/// Scripts under way at once on a cluster's connection (a clear's or a sweep's, one
/// per bucket): enough to keep every primary busy, few enough not to swamp them.
const CONCURRENT_SCRIPTS: usize = 32;

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
    /// increment of every bucket's generation for all clears since the last one,
    /// acknowledged once every bucket is bumped (the increments go out together,
    /// pipelined on the connection; on a cluster, to each bucket's primary). A
    /// clear that fails part-way is made again in full: a bucket bumped twice only
    /// moves further from the entries it invalidated.
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
        let script = self.clone();
        let event = self.backplane.event(super::backplane::CLEAR, "");
        let keys = self.keys.generations();
        let cluster = self.link.is_cluster();
        self.link
            .run(move |mut conn| async move {
                let next = &script.scripts.next_generation;
                if cluster {
                    // One script per bucket (each its own slot), all under way at
                    // once; loaded first, so that they do not all miss it.
                    next.prepare_invoke().load_async(&mut conn).await?;
                    let bumps = keys.iter().cloned().map(|key| {
                        let (mut conn, script) = (conn.clone(), script.clone());
                        async move {
                            let next = &script.scripts.next_generation;
                            next.key(key).invoke_async::<u64>(&mut conn).await
                        }
                    });
                    futures_util::stream::iter(bumps)
                        .buffer_unordered(CONCURRENT_SCRIPTS)
                        .try_collect::<Vec<u64>>()
                        .await?;
                } else {
                    let mut bump = next.prepare_invoke();
                    for key in keys.iter() {
                        bump.key(key);
                    }
                    bump.invoke_async::<u64>(&mut conn).await?;
                }
                redis::cmd("PUBLISH")
                    .arg(script.backplane.channel())
                    .arg(&event)
                    .query_async::<i64>(&mut conn)
                    .await
            })
            .await?;
        generation.synced.fetch_max(target, SeqCst);
        if let Some(runtime) = self.runtime() {
            let shared = self.clone();
            drop(runtime.spawn(async move { shared.sweep().await }));
        }
        Ok(())
    }

    /// A runtime to run Redis work in the background: the caller's, else the
    /// builder's.
    pub(super) fn runtime(&self) -> Option<Handle> {
        Handle::try_current().ok().or_else(|| self.link.runtime())
    }

    /// Frees the entries of older generations (best effort): a `SCAN` of the entry
    /// keys on each node that holds keys (every primary of a cluster), then, per
    /// bucket met, a script that deletes those of another generation than the
    /// bucket's. Only entry keys are matched: nothing outside the cache's own
    /// namespace, nor its locks, generations or builds.
    async fn sweep(self: Arc<Self>) {
        let nodes = match self
            .link
            .run(|mut conn| async move { conn.primaries().await })
            .await
        {
            Ok(nodes) => nodes,
            Err(error) => {
                tracing::debug!(%error, "sweep of invalidated entries not started");
                return;
            }
        };
        let mut swept = 0_u64;
        for node in nodes {
            match self.sweep_node(node).await {
                Ok(count) => swept += count,
                Err(error) => {
                    tracing::debug!(%error, "sweep of invalidated entries stopped");
                    return;
                }
            }
        }
        tracing::debug!(swept, "invalidated entries swept");
    }

    async fn sweep_node(self: &Arc<Self>, node: Node) -> Result<u64, StoreError> {
        let pattern = self.keys.entry_pattern();
        let cluster = self.link.is_cluster();
        let mut cursor = 0_u64;
        let mut swept = 0_u64;
        loop {
            let (pattern, on) = (pattern.clone(), node.clone());
            let (next, keys) = self
                .link
                .run(move |mut conn| async move {
                    let mut scan = redis::cmd("SCAN");
                    scan.arg(cursor)
                        .arg("MATCH")
                        .arg(&pattern)
                        .arg("COUNT")
                        .arg(1000);
                    conn.query_on::<(u64, Vec<Vec<u8>>)>(&on, &scan).await
                })
                .await?;
            // Pairs of a bucket's generation key and one of its entries; on a
            // cluster, one script per bucket (one slot), else one for the page.
            let mut by_bucket: HashMap<String, Vec<Vec<u8>>> = HashMap::new();
            for key in keys {
                if let Some(generation) = self.keys.generation_of_entry(&key) {
                    let bucket = if cluster { generation } else { "" };
                    let pairs = by_bucket.entry(bucket.to_owned()).or_default();
                    pairs.push(generation.as_bytes().to_vec());
                    pairs.push(key);
                }
            }
            let script = self.clone();
            swept += self
                .link
                .run(move |conn| async move {
                    let sweeps = by_bucket.into_values().map(|pairs| {
                        let (mut conn, script) = (conn.clone(), script.clone());
                        async move {
                            let mut call = script.scripts.sweep.prepare_invoke();
                            for key in &pairs {
                                call.key(key);
                            }
                            call.invoke_async::<u64>(&mut conn).await
                        }
                    });
                    let counts: Vec<u64> = futures_util::stream::iter(sweeps)
                        .buffer_unordered(CONCURRENT_SCRIPTS)
                        .try_collect()
                        .await?;
                    Ok(counts.into_iter().sum::<u64>())
                })
                .await?;
            cursor = next;
            if cursor == 0 {
                return Ok(swept);
            }
        }
    }
}
