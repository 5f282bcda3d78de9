//! The shared tier: entries in Redis (or Valkey), shared by every process that uses
//! the same server and key prefix. One concern per file: the connection (`link`),
//! the record bytes (`codec`), the scripts, reads and writes (`entries`), the
//! generation and `invalidate_all` (`generation`), the cross-process refresh lock
//! (`refresh_lock`), the near cache (`near`), and the builder methods (`builder`).

use std::future::Future;
use std::sync::Arc;

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::sealed::{Found, Lookup, Peek, Peeked, WriteOptions};
use super::{Record, StillValid, StoreError, StoreFuture, StoreSettings, sealed};

mod backplane;
mod builder;
mod builds;
mod codec;
mod entries;
mod generation;
mod keys;
mod link;
mod miss;
mod near;
mod pending;
mod refresh_lock;
mod scripts;

use backplane::Backplane;
use builder::RedisConfig;
pub use builder::{
    DEFAULT_COMMAND_TIMEOUT, DEFAULT_FAULT_BACKOFF, DEFAULT_KEY_PREFIX, DEFAULT_MAX_VALUE_BYTES,
    DEFAULT_REFRESH_LOCK_TTL,
};
use builds::Builds;
use entries::Entries;
use generation::Generation;
use keys::Keys;
use link::Link;
use near::Near;
use pending::Pending;
use refresh_lock::{RefreshLocks, RefreshToken};
use scripts::Scripts;

/// The shared tier: a store in Redis (or Valkey) through the `redis` crate, made by
/// [`CacheBuilder::redis`](crate::CacheBuilder::redis) (one server) or
/// [`CacheBuilder::redis_cluster`](crate::CacheBuilder::redis_cluster) (a Redis
/// Cluster). A `Cache<Redis>` fetches values and versions that are also
/// `serde::Serialize + DeserializeOwned`.
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
/// Everything the tier writes lies under `{prefix}swr:`, a namespace of its own:
/// the entry of a locator under `{prefix}swr:{<tag>}:e:{locator}`, a hash of `g`
/// (the generation it was written under) and `v` (the record), its refresh and miss
/// locks under `{prefix}swr:{<tag>}:lock:{locator}` and `...:miss:{locator}`, the
/// generation of its bucket under `{prefix}swr:{<tag>}:gen`, and the builds under
/// `{prefix}swr:builds`. `<tag>` is the locator's bucket (three hex digits from its
/// SHA-1, one of 1024), a Redis Cluster hash tag: every key of a locator, and the
/// generation it is read under, share a hash slot, and locators spread over the
/// buckets' slots. No other key is read, written or deleted, whatever the prefix
/// (an empty one included).
///
/// The record is
/// `[format tag: 1 byte][types: 8][fingerprint: 8][written: 16][expires_in: 8][fail_safe: 8][mark: 1][MessagePack of (version, value)]`
/// with a `PX` expiry of `expires_in + fail_safe` when the writing call set
/// [`expires_in`](crate::FetchOptions::expires_in): a fallback stays in Redis for its
/// [`fail_safe`](crate::FetchOptions::fail_safe) window past the expiry, and no
/// longer. The tag names the layout, `types` hashes the Rust names of the version and
/// value types, and the fingerprint is that of the code that generated the value (the
/// attribute's hash of the function body). `written` is when the value landed, in
/// microseconds of Redis's clock, stamped by the write script itself; `expires_in`
/// and `fail_safe` are the writing call's; `mark` is set in place by
/// [`expire`](crate::Cache::expire). Bytes that are not such a record of the
/// caller's types (corrupt, another format, other types) are a miss, and the next
/// write replaces them, and so is an entry longer than
/// [`max_value_bytes`](crate::CacheBuilder::max_value_bytes), whose bytes are not
/// even sent. An [`expires_in`](crate::FetchOptions::expires_in) too long for Redis's
/// clock (`Duration::MAX`) is no expiry.
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
///   version with an older one. No lock of this process is held across these round
///   trips: a caller waits for its own commands, each under the command timeout, not
///   for other callers' writes.
/// - **One refresh.** A background refresh first takes
///   `SET <its lock key> <random token> NX PX <lock ttl>`; a process that
///   finds it taken serves the stale value and does not refresh. The holder releases
///   it with a compare-and-delete script. While the refresh runs, a task renews the
///   lock about every third of
///   [`refresh_lock_ttl`](crate::CacheBuilder::refresh_lock_ttl), so a refresh longer
///   than the ttl is still the only one; a crashed holder's lock expires one ttl
///   after its last renewal. Misses are coalesced
///   within a process, not across processes (each process may generate a missing
///   entry once; the no-downgrade rule keeps one).
/// - **Builds.** A record of another build (another body fingerprint) at an equal
///   version is current only if its build is the newer: each fingerprint registers,
///   once, the time the tier first saw it (Redis's `TIME`; ties broken by the
///   fingerprint's value), and this process keeps what it looked up. The write's
///   no-downgrade decision uses the same order, so during a rolling deploy the newer
///   build replaces the older build's record of a version once, and the older build
///   is served it: the builds do not fight.
/// - **Time.** A record's age is measured on Redis's clock alone (its stamp against
///   the read script's `TIME`), so one entry is equally old in every process,
///   whatever their clocks say; the age is mapped onto this process's clock as of
///   when the read was sent, so it may read up to a round trip older, never younger.
///   Redis's clock does not pause: under tokio's paused test clock, ages on this
///   tier still grow in real time.
///   `refresh_after` is the reading call's; expiry and fallback window the writing
///   call's (contract §6, crate docs). A same-version write replaces a record of the
///   same build made before its generation began (a refresh by age, a `put`), never
///   one of a newer build. [`expire`](crate::Cache::expire) marks the record in Redis,
///   its time to live kept: it stays a fallback until its own expiry plus its
///   fail-safe window; made while Redis is unreachable, it is kept like an
///   `invalidate`.
/// - **Invalidation.** [`invalidate`](crate::Cache::invalidate) deletes the entry in
///   Redis; made while Redis is unreachable or backing off, it is kept (at most
///   10 000 of them, then one pending `invalidate_all` instead) and applied once Redis
///   answers, and until then this process does not serve the entry.
///   [`invalidate_all`](crate::Cache::invalidate_all) increments every bucket's
///   generation (pipelined, acknowledged once all are bumped): every entry written
///   before it is gone for every process, and a background sweep (a `SCAN` of the
///   entry keys on each primary, then a script per bucket that deletes the entries
///   of another generation) frees their memory. It is synchronous, so its Redis part runs in a task, and
///   this process's next store access waits for it: after `invalidate_all` returns,
///   this process never reads an entry from before it. (Redis unreachable, it takes
///   effect when Redis answers again.) A generation key deleted or overwritten by
///   someone else is replaced by a fresh generation from Redis's clock: no older
///   entry comes back, and no access fails on it. A generation running in this process when it
///   is called stores nothing; one running in another process may still store its
///   result.
/// - **Faults.** Every command runs under the
///   [command timeout](crate::CacheBuilder::command_timeout) (default 250 ms). A fault
///   (no connection, no answer in time, an error) fails the store access: the fetch
///   generates in the caller and the fault counts in
///   [`Stats::store_errors`](crate::Stats::store_errors). After a connection fault
///   Redis is left alone for a [back-off](crate::CacheBuilder::fault_backoff), then
///   probed; the connection is remade by itself (`redis`'s `ConnectionManager`, or
///   on a cluster its `ClusterConnection`, which also follows moved slots). On a
///   cluster, a slot without a reachable primary (a failover under way) is such a
///   fault.
///
/// # The near cache
///
/// With [`near_cache(ttl)`](crate::CacheBuilder::near_cache), decoded records are
/// also kept in memory for at most `ttl` (and no longer than their expiry; a
/// fallback or a marked record is read from Redis each time), so
/// a hot entry is served without a round trip. This process's writes and
/// invalidations update it at once. Another process's reach it within milliseconds:
/// every write, removal and `invalidate_all` publishes an event on
/// `{prefix}swr:events` from inside its script (an `expire` too: it marks the
/// copies), and each process with a near cache
/// subscribes (before its first store access returns): a removal's or
/// `invalidate_all`'s event drops the copies it names, a write's event (which names
/// the version written) drops a copy of that version or an older one, so the next
/// read refreshes it from Redis, and keeps a newer one. A lost subscription falls back to `ttl`, and the near cache is
/// cleared when it is back. A stale read that would refresh first drops the locator
/// from the near cache, so refreshes are still decided on what Redis holds.
///
/// # Requirements
///
/// Store accesses need a tokio runtime with I/O and time enabled (as
/// `#[tokio::main]` makes): the caller's, or else the one given to
/// [`runtime`](crate::CacheBuilder::runtime). Without either, every access fails
/// and values are generated in the caller. A single server, a primary with
/// replicas, and a Redis (or Valkey) Cluster are supported: every script touches
/// one hash slot, with every key it touches declared. With a prefix that holds a
/// hash tag of its own (`{app}:`), all of the cache's keys share that tag's slot.
pub struct Redis {
    shared: Arc<Shared>,
}

/// What every operation of the tier reaches, one field per concern.
struct Shared {
    link: Arc<Link>,
    scripts: Scripts,
    keys: Keys,
    generation: Generation,
    entries: Entries,
    pending: Pending,
    builds: Builds,
    locks: RefreshLocks,
    near: Option<Near>,
    backplane: Backplane,
    miss_lock_timeout: std::time::Duration,
}

impl Shared {
    /// Whether a caller that wants `version` of the build `fingerprint` may be served
    /// `record`: the version rule, and at an equal version the builds rule (a record
    /// of another build is current only if its build is the newer).
    #[inline]
    fn is_current_record<V: Ord, T>(
        self: &Arc<Self>,
        record: &Record<V, T>,
        version: &V,
        fingerprint: u64,
    ) -> bool {
        match version.cmp(&record.version) {
            std::cmp::Ordering::Less => true,
            std::cmp::Ordering::Greater => false,
            std::cmp::Ordering::Equal => {
                fingerprint == record.fingerprint
                    || self.build_is_current(record.fingerprint, fingerprint)
            }
        }
    }

    /// `invalidate_all`: at once in this process, in Redis now if a runtime is at
    /// hand, else before the next access. Pending removals are superseded by it.
    fn clear(self: &Arc<Self>) {
        self.generation.request_clear();
        self.pending.supersede();
        let near_epoch = self.near.as_ref().map(Near::clear);
        if let Some(runtime) = self.runtime() {
            let shared = self.clone();
            drop(runtime.spawn(async move {
                if let (Some(near), Some(epoch)) = (&shared.near, near_epoch) {
                    near.sweep(epoch);
                }
                if let Err(error) = shared.sync_clear().await {
                    tracing::debug!(%error, "invalidate_all reaches Redis once it answers");
                    shared.retry_pending();
                }
            }));
        }
    }
}

impl super::Backend for Redis {}

impl sealed::BackendPriv for Redis {
    type Config = RedisConfig;
    type RefreshLock = RefreshToken;

    fn build(settings: StoreSettings, config: RedisConfig) -> Self {
        Redis {
            shared: Arc::new(Shared {
                link: Arc::new(Link::new(
                    &config.deployment,
                    config.command_timeout,
                    config.fault_backoff,
                    settings.runtime,
                )),
                scripts: Scripts::new(),
                keys: Keys::new(&config.key_prefix),
                generation: Generation::default(),
                entries: Entries::new(config.max_value_bytes),
                pending: Pending::default(),
                builds: Builds::default(),
                locks: RefreshLocks::new(settings.max_capacity, config.refresh_lock_ttl),
                near: config
                    .near_cache
                    .map(|ttl| Near::new(settings.max_capacity, ttl)),
                backplane: Backplane::new(&config.key_prefix, refresh_lock::random_token()),
                miss_lock_timeout: config.miss_lock_timeout,
            }),
        }
    }

    fn remove(&self, locator: &str) -> impl Future<Output = Result<(), StoreError>> + Send {
        self.shared.clone().remove(locator.to_owned())
    }

    fn clear(&self) {
        self.shared.clear();
    }

    fn expire(&self, locator: &str) -> impl Future<Output = Result<(), StoreError>> + Send {
        self.shared.clone().expire(locator.to_owned())
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
    /// The near copy if it is live, else what Redis holds, with its standing on
    /// Redis's clock (past its writer's expiry: a fallback; marked by `expire`).
    fn lookup<'a>(&'a self, locator: &'a str) -> StoreFuture<'a, Lookup<V, T>> {
        match self.peek(locator, |_| None::<std::convert::Infallible>) {
            Peek::Answered(never) => match never {},
            Peek::Looked(lookup) => lookup,
        }
    }

    /// The near copy, if it is live, lent to `answer`.
    #[inline]
    fn peek<'a, R>(
        &'a self,
        locator: &'a str,
        answer: impl FnOnce(Peeked<'_, V, T>) -> Option<R>,
    ) -> Peek<'a, R, V, T> {
        let shared = &self.shared;
        match shared.near.as_ref().map(|near| near.peek(locator, answer)) {
            Some(Ok(answered)) => return Peek::Answered(answered),
            Some(Err(Some(found))) => return Peek::Looked(StoreFuture::ready(Ok(Some(found)))),
            Some(Err(None)) | None => {}
        }
        Peek::Looked(StoreFuture::Boxed(Box::pin(async move {
            shared.read(locator).await.map(|found| {
                found.map(|stored| Found {
                    record: stored.record,
                    expired: stored.expired,
                    marked: stored.marked,
                })
            })
        })))
    }

    /// The builds rule: at an equal version, a record of another build is current
    /// only if its build is the newer one (first seen later by the shared tier).
    #[inline]
    fn is_current(&self, record: &Record<V, T>, version: &V, fingerprint: u64) -> bool {
        self.shared.is_current_record(record, version, fingerprint)
    }

    fn lock_miss<'a>(
        &'a self,
        locator: &'a str,
        version: &'a V,
        fingerprint: u64,
    ) -> StoreFuture<'a, sealed::MissLock<V, T>> {
        StoreFuture::Boxed(Box::pin(self.shared.lock_miss(
            locator,
            version,
            fingerprint,
        )))
    }

    fn write_with<'a>(
        &'a self,
        locator: &'a str,
        record: &'a Arc<Record<V, T>>,
        options: WriteOptions,
        still_valid: StillValid<'a>,
    ) -> StoreFuture<'a, Result<bool, StoreError>> {
        StoreFuture::Boxed(Box::pin(self.shared.write(
            locator,
            record,
            options,
            still_valid,
        )))
    }
}

impl std::fmt::Debug for Redis {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Redis")
            .field("key_prefix", &self.shared.keys.prefix())
            .field("command_timeout", &self.shared.link.timeout())
            .finish_non_exhaustive()
    }
}
