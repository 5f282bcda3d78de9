//! The shared tier: entries in Redis (or Valkey), shared by every process that uses
//! the same server and key prefix.

use std::any::Any;
use std::future::Future;
use std::hash::BuildHasher;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::SeqCst};
use std::time::{Duration, Instant};

use moka::ops::compute::Op;
use moka::sync::Cache as Moka;
use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio::runtime::Handle;

use super::{Backend, Read, Record, StillValid, Store, StoreError, StoreFuture, sealed};
use crate::builder::Settings;

mod codec;
mod config;
mod link;
mod scripts;

pub use config::{
    DEFAULT_COMMAND_TIMEOUT, DEFAULT_FAULT_BACKOFF, DEFAULT_KEY_PREFIX, DEFAULT_MAX_VALUE_BYTES,
    DEFAULT_REFRESH_LOCK_TTL, RedisConfig,
};
use link::{Link, duration_ms};
use scripts::Scripts;

/// Compare-and-set attempts of one write before it gives up (other writers keep
/// changing the entry: the newest of them stays).
const CAS_ATTEMPTS: usize = 4;
/// Writes and removals of one locator are ordered in this process through one of
/// these locks (by hash of the locator).
const STRIPES: usize = 64;

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
/// most compact serde format (measured by the unit test `measure_encode_decode`, in
/// release on one core of the CI machine, for a 1.2 KiB struct of strings, a vector
/// and a map: 1222 bytes against postcard's 1192, encode 0.26 µs against 0.29 µs,
/// decode 1.2 µs against 0.85 µs; a whole hit through a loopback Redis costs about
/// 110 µs, see the test `measure_hit_latency`), and
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
/// a hot entry is served without a round trip (about 0.5 µs instead of 110 µs for a
/// 1 KiB value on loopback, in `measure_hit_latency`). This process's writes and
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

struct Shared {
    link: Arc<Link>,
    scripts: Scripts,
    prefix: String,
    gen_key: String,
    near: Option<Moka<String, NearSlot, foldhash::fast::RandomState>>,
    near_ttl: Duration,
    /// Bumped by `clear`: near-cache slots of an older epoch are gone.
    epoch: AtomicU64,
    /// The epoch whose clears have reached Redis (its generation was incremented).
    synced: AtomicU64,
    clear_gate: tokio::sync::Mutex<()>,
    /// Bumped by `remove`: a read that began before it does not fill the near cache.
    removals: AtomicU64,
    stripes: Box<[tokio::sync::Mutex<()>]>,
    stripe_hasher: foldhash::fast::RandomState,
    max_value_bytes: usize,
    lock_ttl: Duration,
    /// Locators whose refresh lock another process held a moment ago: while it
    /// refreshes, this process's stale reads do not each ask Redis again.
    locked_elsewhere: Moka<String, (), foldhash::fast::RandomState>,
}

/// How long a lock seen held elsewhere is believed held without asking again.
const LOCKED_ELSEWHERE_MEMO: Duration = Duration::from_millis(250);

#[derive(Clone)]
struct NearSlot {
    epoch: u64,
    ttl: Duration,
    record: Arc<dyn Any + Send + Sync>,
}

struct NearExpiry;

impl moka::Expiry<String, NearSlot> for NearExpiry {
    fn expire_after_create(&self, _: &String, slot: &NearSlot, _: Instant) -> Option<Duration> {
        Some(slot.ttl)
    }

    fn expire_after_update(
        &self,
        _: &String,
        slot: &NearSlot,
        _: Instant,
        _: Option<Duration>,
    ) -> Option<Duration> {
        Some(slot.ttl)
    }
}

/// A claim on refreshing one locator across processes: the token its lock holds.
#[doc(hidden)]
#[derive(Debug)]
pub struct RefreshToken(String);

impl sealed::Sealed for Redis {}

impl Backend for Redis {
    type Config = RedisConfig;

    fn build(settings: &Settings, config: RedisConfig) -> Self {
        let near = config.near_cache.map(|_| {
            Moka::builder()
                .max_capacity(settings.max_capacity)
                .expire_after(NearExpiry)
                .build_with_hasher(foldhash::fast::RandomState::default())
        });
        Redis {
            shared: Arc::new(Shared {
                link: Arc::new(Link::new(
                    &config.url,
                    config.command_timeout,
                    config.fault_backoff,
                    settings.runtime.clone(),
                )),
                scripts: Scripts::new(),
                gen_key: format!("{}gen", config.key_prefix),
                prefix: config.key_prefix,
                near,
                near_ttl: config.near_cache.unwrap_or_default(),
                epoch: AtomicU64::new(0),
                synced: AtomicU64::new(0),
                clear_gate: tokio::sync::Mutex::new(()),
                removals: AtomicU64::new(0),
                stripes: (0..STRIPES).map(|_| tokio::sync::Mutex::new(())).collect(),
                stripe_hasher: foldhash::fast::RandomState::default(),
                max_value_bytes: config.max_value_bytes,
                lock_ttl: config.refresh_lock_ttl,
                locked_elsewhere: Moka::builder()
                    .max_capacity(settings.max_capacity)
                    .time_to_live(LOCKED_ELSEWHERE_MEMO.min(config.refresh_lock_ttl))
                    .build_with_hasher(foldhash::fast::RandomState::default()),
            }),
        }
    }

    fn remove(&self, locator: &str) -> impl Future<Output = Result<(), StoreError>> + Send {
        let shared = self.shared.clone();
        let locator = locator.to_owned();
        async move {
            let _stripe = shared.stripe(&locator).lock().await;
            let result = async {
                shared.sync_clear().await?;
                let script = shared.clone();
                let key = locator.clone();
                shared
                    .link
                    .run(move |mut conn| async move {
                        script
                            .scripts
                            .remove
                            .key(&script.gen_key)
                            .arg(&script.prefix)
                            .arg(&key)
                            .invoke_async::<i64>(&mut conn)
                            .await
                    })
                    .await
            }
            .await;
            // Whatever Redis answered, this process forgets the entry.
            shared.removals.fetch_add(1, SeqCst);
            if let Some(near) = &shared.near {
                near.entry_by_ref(locator.as_str())
                    .and_compute_with(|_| Op::Remove);
            }
            result.map(drop)
        }
    }

    fn clear(&self) {
        self.shared.epoch.fetch_add(1, SeqCst);
        if let Some(near) = &self.shared.near {
            near.invalidate_all();
        }
        // The Redis part: now if a runtime is at hand, else on the next access.
        let runtime = Handle::try_current()
            .ok()
            .or_else(|| self.shared.link.runtime());
        if let Some(runtime) = runtime {
            let shared = self.shared.clone();
            drop(runtime.spawn(async move {
                if let Err(error) = shared.sync_clear().await {
                    tracing::debug!(%error, "invalidate_all reaches Redis on the next access");
                }
            }));
        }
    }

    type RefreshLock = RefreshToken;

    fn lock_refresh(
        &self,
        locator: &str,
    ) -> impl Future<Output = Result<Option<RefreshToken>, StoreError>> + Send {
        let shared = self.shared.clone();
        let key = shared.lock_key(locator);
        let locator = locator.to_owned();
        let token = random_token();
        async move {
            if shared.locked_elsewhere.contains_key(locator.as_str()) {
                return Ok(None);
            }
            let ttl_ms = duration_ms(shared.lock_ttl).max(1);
            let value = token.clone();
            let taken = shared
                .link
                .run(move |mut conn| async move {
                    redis::cmd("SET")
                        .arg(&key)
                        .arg(&value)
                        .arg("NX")
                        .arg("PX")
                        .arg(ttl_ms)
                        .query_async::<Option<String>>(&mut conn)
                        .await
                })
                .await?;
            if taken.is_none() {
                shared.locked_elsewhere.insert(locator, ());
                return Ok(None);
            }
            // The refresh re-reads the entry next: from Redis, not from this process's
            // possibly older near copy.
            if let Some(near) = &shared.near {
                near.invalidate(locator.as_str());
            }
            Ok(Some(RefreshToken(token)))
        }
    }

    fn unlock_refresh(
        &self,
        locator: &str,
        lock: RefreshToken,
    ) -> impl Future<Output = Result<(), StoreError>> + Send {
        let shared = self.shared.clone();
        let key = shared.lock_key(locator);
        async move {
            let script = shared.clone();
            shared
                .link
                .run(move |mut conn| async move {
                    script
                        .scripts
                        .unlock
                        .key(&key)
                        .arg(&lock.0)
                        .invoke_async::<i64>(&mut conn)
                        .await
                })
                .await
                .map(drop)
        }
    }
}

impl<V, T> Store<V, T> for Redis
where
    V: Ord + Serialize + DeserializeOwned + Send + Sync + 'static,
    T: Serialize + DeserializeOwned + Send + Sync + 'static,
{
    fn read<'a>(&'a self, locator: &'a str) -> StoreFuture<'a, Read<V, T>> {
        let shared = &self.shared;
        let epoch = shared.epoch.load(SeqCst);
        if let Some(near) = shared.near_get::<V, T>(locator, epoch) {
            return StoreFuture::ready(Ok(Some(near)));
        }
        StoreFuture::Boxed(Box::pin(async move {
            let removals = shared.removals.load(SeqCst);
            shared.sync_clear().await?;
            let (_, bytes, pttl) = shared.fetch_raw(locator).await?;
            let Some(bytes) = bytes else {
                return Ok(None);
            };
            let Some(record) = decode_logged::<V, T>(locator, &bytes) else {
                return Ok(None);
            };
            let record = Arc::new(record);
            shared.near_offer(locator, &record, epoch, Some(removals), pttl);
            Ok(Some(record))
        }))
    }

    fn write<'a>(
        &'a self,
        locator: &'a str,
        record: &'a Arc<Record<V, T>>,
        expires_in: Option<Duration>,
        still_valid: StillValid<'a>,
    ) -> StoreFuture<'a, Result<(), StoreError>> {
        let shared = &self.shared;
        StoreFuture::Boxed(Box::pin(async move {
            let bytes = codec::encode(&**record)
                .map_err(|error| StoreError(format!("the value does not serialize: {error}")))?;
            if bytes.len() > shared.max_value_bytes {
                tracing::warn!(
                    locator,
                    bytes = bytes.len(),
                    max_value_bytes = shared.max_value_bytes,
                    "value too large for the shared tier: served, not stored"
                );
                return Ok(());
            }
            let bytes: Arc<[u8]> = bytes.into();
            let px = expires_in.map_or(0, |ttl| duration_ms(ttl).max(1));
            let _stripe = shared.stripe(locator).lock().await;
            let epoch = shared.epoch.load(SeqCst);
            shared.sync_clear().await?;
            for _ in 0..CAS_ATTEMPTS {
                let (generation, current, pttl) = shared.fetch_raw(locator).await?;
                if !still_valid() {
                    return Ok(()); // invalidated since the generation began
                }
                let expected = match &current {
                    None => String::new(),
                    Some(current) => {
                        if let Ok(stored) = codec::decode::<V, T>(current) {
                            if !record.may_replace(&stored) {
                                // As new already: keep it, and remember it here.
                                let stored = Arc::new(stored);
                                shared.near_offer(locator, &stored, epoch, None, pttl);
                                return Ok(());
                            }
                        }
                        sha1_smol::Sha1::from(current).digest().to_string()
                    }
                };
                let script = shared.clone();
                let key = locator.to_owned();
                let value = bytes.clone();
                let written = shared
                    .link
                    .run(move |mut conn| async move {
                        script
                            .scripts
                            .compare_and_set
                            .key(&script.gen_key)
                            .arg(&script.prefix)
                            .arg(&key)
                            .arg(&generation)
                            .arg(&expected)
                            .arg(&*value)
                            .arg(px)
                            .invoke_async::<i64>(&mut conn)
                            .await
                    })
                    .await?;
                match written {
                    1 => {
                        let ttl = expires_in.map_or(-1, |_| i64::try_from(px).unwrap_or(-1));
                        shared.near_put(locator, record, epoch, ttl);
                        return Ok(());
                    }
                    -1 => return Ok(()), // an invalidate_all came first
                    _ => {}              // the entry changed meanwhile: decide again
                }
            }
            tracing::debug!(
                locator,
                "write given up: other writers kept changing the entry"
            );
            Ok(())
        }))
    }
}

impl Shared {
    fn lock_key(&self, locator: &str) -> String {
        format!("{}lock:{locator}", self.prefix)
    }

    fn stripe(&self, locator: &str) -> &tokio::sync::Mutex<()> {
        let hash = self.stripe_hasher.hash_one(locator);
        &self.stripes[(hash % STRIPES as u64) as usize]
    }

    /// Makes the clears of this process reach Redis before anything else does: one
    /// `INCR` of the generation for all clears since the last one.
    async fn sync_clear(self: &Arc<Self>) -> Result<(), StoreError> {
        if self.synced.load(SeqCst) >= self.epoch.load(SeqCst) {
            return Ok(());
        }
        let _gate = self.clear_gate.lock().await;
        let target = self.epoch.load(SeqCst);
        if self.synced.load(SeqCst) >= target {
            return Ok(());
        }
        let key = self.gen_key.clone();
        let generation = self
            .link
            .run(move |mut conn| async move {
                redis::cmd("INCR")
                    .arg(&key)
                    .query_async::<u64>(&mut conn)
                    .await
            })
            .await?;
        self.synced.fetch_max(target, SeqCst);
        if let Some(runtime) = Handle::try_current().ok().or_else(|| self.link.runtime()) {
            let shared = self.clone();
            drop(runtime.spawn(async move { shared.sweep(generation).await }));
        }
        Ok(())
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

    /// The generation, the bytes under `locator` and their remaining time to live in
    /// ms (negative: none).
    async fn fetch_raw(
        self: &Arc<Self>,
        locator: &str,
    ) -> Result<(String, Option<Vec<u8>>, i64), StoreError> {
        let script = self.clone();
        let key = locator.to_owned();
        self.link
            .run(move |mut conn| async move {
                script
                    .scripts
                    .read
                    .key(&script.gen_key)
                    .arg(&script.prefix)
                    .arg(&key)
                    .invoke_async::<(String, Option<Vec<u8>>, i64)>(&mut conn)
                    .await
            })
            .await
    }

    fn near_get<V, T>(&self, locator: &str, epoch: u64) -> Option<Arc<Record<V, T>>>
    where
        V: Send + Sync + 'static,
        T: Send + Sync + 'static,
    {
        let slot = self.near.as_ref()?.get(locator)?;
        if slot.epoch != epoch {
            return None;
        }
        slot.record.downcast::<Record<V, T>>().ok()
    }

    fn near_ttl(&self, pttl: i64) -> Duration {
        match u64::try_from(pttl) {
            Ok(ms) => self.near_ttl.min(Duration::from_millis(ms)),
            Err(_) => self.near_ttl,
        }
    }

    /// Puts what this process just wrote to Redis.
    fn near_put<V, T>(&self, locator: &str, record: &Arc<Record<V, T>>, epoch: u64, pttl: i64)
    where
        V: Send + Sync + 'static,
        T: Send + Sync + 'static,
    {
        let Some(near) = &self.near else { return };
        let ttl = self.near_ttl(pttl);
        if ttl.is_zero() {
            return;
        }
        near.insert(
            locator.to_owned(),
            NearSlot {
                epoch,
                ttl,
                record: record.clone(),
            },
        );
    }

    /// Offers what was read from Redis: kept unless a removal came since the read
    /// began (`removals`) or the near cache holds as new a record.
    fn near_offer<V, T>(
        &self,
        locator: &str,
        record: &Arc<Record<V, T>>,
        epoch: u64,
        removals: Option<u64>,
        pttl: i64,
    ) where
        V: Ord + Send + Sync + 'static,
        T: Send + Sync + 'static,
    {
        let Some(near) = &self.near else { return };
        let ttl = self.near_ttl(pttl);
        if ttl.is_zero() {
            return;
        }
        near.entry_by_ref(locator).and_compute_with(|held| {
            if removals.is_some_and(|seen| seen != self.removals.load(SeqCst)) {
                return Op::Nop;
            }
            if let Some(held) = held.map(|entry| entry.into_value()) {
                if held.epoch == epoch {
                    if let Some(held) = held.record.downcast_ref::<Record<V, T>>() {
                        if !record.may_replace(held) {
                            return Op::Nop;
                        }
                    }
                }
            }
            Op::Put(NearSlot {
                epoch,
                ttl,
                record: record.clone(),
            })
        });
    }
}

fn decode_logged<V, T>(locator: &str, bytes: &[u8]) -> Option<Record<V, T>>
where
    V: DeserializeOwned,
    T: DeserializeOwned,
{
    match codec::decode(bytes) {
        Ok(record) => Some(record),
        Err(codec::DecodeError::Types) => {
            tracing::debug!(
                locator,
                "entry of other value or version types: treated as a miss"
            );
            None
        }
        Err(error) => {
            tracing::warn!(locator, %error, "undecodable entry in Redis: treated as a miss");
            None
        }
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

/// A token no other lock holder has: unique in this process by the counter, across
/// processes by the process id, the time and the hasher's random keys.
fn random_token() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let state = foldhash::fast::RandomState::default();
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let seed = (std::process::id(), COUNTER.fetch_add(1, SeqCst), nanos);
    let high = state.hash_one(seed);
    let low = state.hash_one((seed, high));
    format!("{:x}-{:016x}{:016x}", std::process::id(), high, low)
}

impl std::fmt::Debug for Redis {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Redis")
            .field("key_prefix", &self.shared.prefix)
            .field("command_timeout", &self.shared.link.timeout())
            .finish_non_exhaustive()
    }
}
