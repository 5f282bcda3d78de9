//! The shared tier: entries in Redis (or Valkey), shared by every process that uses
//! the same server and key prefix. One concern per file: the connection (`link`),
//! the record bytes (`codec`), the scripts, reads and writes (`entries`), the
//! generation and `invalidate_all` (`generation`), the cross-process refresh lock
//! (`refresh_lock`), the near cache (`near`), and the builder methods (`builder`).

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::{Read, Record, StillValid, StoreError, StoreFuture, StoreSettings, sealed};

mod builder;
mod codec;
mod entries;
mod generation;
mod link;
mod near;
mod refresh_lock;
mod scripts;

use builder::RedisConfig;
pub use builder::{
    DEFAULT_COMMAND_TIMEOUT, DEFAULT_FAULT_BACKOFF, DEFAULT_KEY_PREFIX, DEFAULT_MAX_VALUE_BYTES,
    DEFAULT_REFRESH_LOCK_TTL,
};
use entries::Entries;
use generation::Generation;
use link::Link;
use near::Near;
use refresh_lock::{RefreshLocks, RefreshToken};
use scripts::Scripts;

/// The shared tier: a store in Redis (or Valkey) through the `redis` crate, made by
/// [`CacheBuilder::redis`](crate::CacheBuilder::redis). A `Cache<Redis>` fetches
/// values and versions that are also `serde::Serialize + DeserializeOwned`.
///
/// ```no_run
/// use std::sync::LazyLock;
/// use async_cache_runtime::{Cache, Redis};
///
/// static SHARED: LazyLock<Cache<Redis>> = LazyLock::new(|| {
///     Cache::builder().redis("redis://127.0.0.1:6379/").key_prefix("myapp:").build()
/// });
///
/// # #[tokio::main]
/// # async fn main() {
/// let updated_at = 20151210063911_u64;
/// let json = SHARED
///     .fetch("things/123", updated_at, || async { r#"{"id":123}"#.to_string() })
///     .await;
/// # drop(json);
/// # }
/// ```
///
/// # What is stored
///
/// Under `{prefix}{generation}:{locator}`, the record
/// `[format tag: 1 byte][types: 8][fingerprint: 8][MessagePack of (version, value)]`
/// with a `PX` expiry when the fetch set [`expires_in`](crate::FetchOptions::expires_in).
/// The tag names the layout, `types` hashes the Rust names of the version and value
/// types, and the fingerprint is that of the code that generated the value (the
/// attribute's hash of the function body). Bytes that are not such a record of the
/// caller's types (corrupt, another format, other types) are a miss, and the next
/// write replaces them. A record of another fingerprint is stale at an equal version.
///
/// MessagePack (`rmp-serde`) because it is compact and fast, close to postcard, the
/// most compact serde format (the benchmarks compare it with postcard), and
/// because it is self-describing: every serde type round-trips, including
/// `serde_json::Value`, untagged enums and `#[serde(flatten)]`, which postcard and
/// bincode cannot decode (such a value would be an eternal miss). Structs are
/// encoded as arrays: keep the field list of a cached type in step across the
/// processes that share entries (a record that no longer decodes is only a miss).
///
/// # Guarantees across processes
///
/// - **No downgrade.** Redis cannot compare arbitrary `Ord` versions, so a write is a
///   compare-and-set: read the entry, decide in Rust with the no-downgrade rule, then
///   a Lua script writes only if the entry still holds exactly the bytes read (by
///   SHA-1) or is still absent, retrying on conflict. No process replaces a newer
///   version with an older one.
/// - **One refresh.** A background refresh first takes
///   `SET {prefix}lock:{locator} <random token> NX PX <lock ttl>`; a process that
///   finds it taken serves the stale value and does not refresh. The holder releases
///   it with a compare-and-delete script; a crashed holder's lock expires after
///   [`refresh_lock_ttl`](crate::CacheBuilder::refresh_lock_ttl). Misses are coalesced
///   within a process, not across processes (each process may generate a missing
///   entry once; the no-downgrade rule keeps one).
/// - **Invalidation.** [`invalidate`](crate::Cache::invalidate) deletes the entry in
///   Redis. [`invalidate_all`](crate::Cache::invalidate_all) increments the
///   generation under `{prefix}gen`: every entry written before it is gone for every
///   process at once, in one command, and a background sweep (`SCAN` + `UNLINK`)
///   frees their memory. It is synchronous, so its Redis part runs in a task, and
///   this process's next store access waits for it: after `invalidate_all` returns,
///   this process never reads an entry from before it. (Redis unreachable, it takes
///   effect when Redis answers again.) A generation running in this process when it
///   is called stores nothing; one running in another process may still store its
///   result.
/// - **Faults.** Every command runs under the
///   [command timeout](crate::CacheBuilder::command_timeout) (default 250 ms). A fault
///   (no connection, no answer in time, an error) fails the store access: the fetch
///   generates in the caller and the fault counts in
///   [`Stats::store_errors`](crate::Stats::store_errors). After a connection fault
///   Redis is left alone for a [back-off](crate::CacheBuilder::fault_backoff), then
///   probed; the connection is remade by itself (`redis`'s `ConnectionManager`).
///
/// # The near cache
///
/// With [`near_cache(ttl)`](crate::CacheBuilder::near_cache), decoded records are
/// also kept in memory for at most `ttl` (and no longer than their Redis expiry), so
/// a hot entry is served without a round trip. This process's writes and
/// invalidations update it at once; another process's are seen here after at most
/// `ttl`. A stale read that would refresh first drops the locator from the near
/// cache, so refreshes are still decided on what Redis holds.
///
/// # Requirements
///
/// Store accesses need a tokio runtime with I/O and time enabled (as
/// `#[tokio::main]` makes): the caller's, or else the one given to
/// [`runtime`](crate::CacheBuilder::runtime). Without either, every access fails
/// and values are generated in the caller. Redis Cluster is not supported (the
/// scripts build keys); a single server, or a primary with replicas, is.
pub struct Redis {
    shared: Arc<Shared>,
}

/// What every operation of the tier reaches, one field per concern.
struct Shared {
    link: Arc<Link>,
    scripts: Scripts,
    prefix: String,
    gen_key: String,
    generation: Generation,
    entries: Entries,
    locks: RefreshLocks,
    near: Option<Near>,
}

impl super::Backend for Redis {}

impl sealed::BackendPriv for Redis {
    type Config = RedisConfig;
    type RefreshLock = RefreshToken;

    fn build(settings: StoreSettings, config: RedisConfig) -> Self {
        Redis {
            shared: Arc::new(Shared {
                link: Arc::new(Link::new(
                    &config.url,
                    config.command_timeout,
                    config.fault_backoff,
                    settings.runtime,
                )),
                scripts: Scripts::new(),
                gen_key: format!("{}gen", config.key_prefix),
                prefix: config.key_prefix,
                generation: Generation::default(),
                entries: Entries::new(config.max_value_bytes),
                locks: RefreshLocks::new(settings.max_capacity, config.refresh_lock_ttl),
                near: config
                    .near_cache
                    .map(|ttl| Near::new(settings.max_capacity, ttl)),
            }),
        }
    }

    fn remove(&self, locator: &str) -> impl Future<Output = Result<(), StoreError>> + Send {
        self.shared.clone().remove(locator.to_owned())
    }

    fn clear(&self) {
        let shared = &self.shared;
        shared.generation.request_clear();
        let near_epoch = shared.near.as_ref().map(Near::clear);
        // The Redis part: now if a runtime is at hand, else on the next access.
        if let Some(runtime) = shared.runtime() {
            let shared = shared.clone();
            drop(runtime.spawn(async move {
                if let (Some(near), Some(epoch)) = (&shared.near, near_epoch) {
                    near.sweep(epoch);
                }
                if let Err(error) = shared.sync_clear().await {
                    tracing::debug!(%error, "invalidate_all reaches Redis on the next access");
                }
            }));
        }
    }

    fn lock_refresh(
        &self,
        locator: &str,
    ) -> impl Future<Output = Result<Option<RefreshToken>, StoreError>> + Send {
        self.shared.clone().lock_refresh(locator.to_owned())
    }

    fn unlock_refresh(
        &self,
        locator: &str,
        lock: RefreshToken,
    ) -> impl Future<Output = Result<(), StoreError>> + Send {
        self.shared.clone().unlock_refresh(locator.to_owned(), lock)
    }
}

impl<V, T> super::Store<V, T> for Redis
where
    V: Ord + Serialize + DeserializeOwned + Send + Sync + 'static,
    T: Serialize + DeserializeOwned + Send + Sync + 'static,
{
}

impl<V, T> sealed::StorePriv<V, T> for Redis
where
    V: Ord + Serialize + DeserializeOwned + Send + Sync + 'static,
    T: Serialize + DeserializeOwned + Send + Sync + 'static,
{
    fn read<'a>(&'a self, locator: &'a str) -> StoreFuture<'a, Read<V, T>> {
        let shared = &self.shared;
        let near_epoch = match &shared.near {
            Some(near) => match near.get::<V, T>(locator) {
                Some(record) => return StoreFuture::ready(Ok(Some(record))),
                None => near.epoch(),
            },
            None => 0,
        };
        StoreFuture::Boxed(Box::pin(shared.read(locator, near_epoch)))
    }

    fn write<'a>(
        &'a self,
        locator: &'a str,
        record: &'a Arc<Record<V, T>>,
        expires_in: Option<Duration>,
        still_valid: StillValid<'a>,
    ) -> StoreFuture<'a, Result<(), StoreError>> {
        StoreFuture::Boxed(Box::pin(self.shared.write(
            locator,
            record,
            expires_in,
            still_valid,
        )))
    }
}

impl std::fmt::Debug for Redis {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Redis")
            .field("key_prefix", &self.shared.prefix)
            .field("command_timeout", &self.shared.link.timeout())
            .finish_non_exhaustive()
    }
}
