//! The builder methods of a Redis-backed cache, and what they collect.

use std::time::Duration;

use super::Redis;
use super::link::Deployment;
use crate::CacheBuilder;
use crate::store::Memory;

/// Commands that get no answer within it fail unless
/// [`CacheBuilder::command_timeout`] says otherwise.
pub const DEFAULT_COMMAND_TIMEOUT: Duration = Duration::from_millis(250);
/// How long Redis is left alone after a fault unless [`CacheBuilder::fault_backoff`]
/// says otherwise.
pub const DEFAULT_FAULT_BACKOFF: Duration = Duration::from_millis(500);
/// Largest encoded entry written to Redis unless [`CacheBuilder::max_value_bytes`]
/// says otherwise.
pub const DEFAULT_MAX_VALUE_BYTES: usize = 1 << 20;
/// How long a refresh lock lives unless [`CacheBuilder::refresh_lock_ttl`] says
/// otherwise.
pub const DEFAULT_REFRESH_LOCK_TTL: Duration = Duration::from_secs(30);
/// How long a process waits for another process's generation of a missing entry,
/// and how long a miss lock lives, unless [`CacheBuilder::miss_lock_timeout`] says
/// otherwise.
pub(super) const DEFAULT_MISS_LOCK_TIMEOUT: Duration = Duration::from_secs(5);
/// The namespace of entries in Redis unless [`CacheBuilder::key_prefix`] says
/// otherwise.
pub const DEFAULT_KEY_PREFIX: &str = "async-cache:";

/// What a [`CacheBuilder<Redis>`] collects beyond the common settings.
#[derive(Clone, Debug)]
pub struct RedisConfig {
    pub(super) deployment: Deployment,
    pub(super) key_prefix: String,
    pub(super) near_cache: Option<Duration>,
    pub(super) command_timeout: Duration,
    pub(super) fault_backoff: Duration,
    pub(super) max_value_bytes: usize,
    pub(super) refresh_lock_ttl: Duration,
    pub(super) miss_lock_timeout: Duration,
}

impl Default for RedisConfig {
    fn default() -> Self {
        RedisConfig {
            deployment: Deployment::Server("redis://127.0.0.1:6379/".into()),
            key_prefix: DEFAULT_KEY_PREFIX.into(),
            near_cache: None,
            command_timeout: DEFAULT_COMMAND_TIMEOUT,
            fault_backoff: DEFAULT_FAULT_BACKOFF,
            max_value_bytes: DEFAULT_MAX_VALUE_BYTES,
            refresh_lock_ttl: DEFAULT_REFRESH_LOCK_TTL,
            miss_lock_timeout: DEFAULT_MISS_LOCK_TIMEOUT,
        }
    }
}

impl CacheBuilder<Memory> {
    /// The shared tier: the cache keeps its entries in the Redis (or Valkey) server at
    /// `url` (`redis://[user:password@]host[:port][/db]`, `rediss://` needs TLS, not
    /// built in; `redis+unix:///path`), so that several processes share them and run
    /// one refresh between them. See [`Redis`] for what is stored and guaranteed.
    ///
    /// Never connects: the connection is made on first use and remade after faults.
    /// A URL that does not parse is logged at `error` when the cache is built, and
    /// the cache then runs without a store (every fetch generates, every store access
    /// counts in [`Stats::store_errors`](crate::Stats::store_errors)).
    ///
    /// ```
    /// use std::time::Duration;
    /// use async_cache_runtime::{Cache, Redis};
    ///
    /// let cache: Cache<Redis> = Cache::builder()
    ///     .max_capacity(20_000) // of the near cache
    ///     .redis("redis://127.0.0.1:6379/")
    ///     .key_prefix("myapp:")
    ///     .near_cache(Duration::from_millis(500))
    ///     .command_timeout(Duration::from_millis(100))
    ///     .build();
    /// # drop(cache);
    /// ```
    pub fn redis(self, url: &str) -> CacheBuilder<Redis> {
        CacheBuilder {
            settings: self.settings,
            store: RedisConfig {
                deployment: Deployment::Server(url.to_owned()),
                ..RedisConfig::default()
            },
        }
    }

    /// The shared tier over a Redis (or Valkey) Cluster: `urls` are some of its
    /// nodes (one that answers is enough; give several, so that the cache still finds
    /// the cluster when one is down). Every option of [`CacheBuilder<Redis>`] applies,
    /// and everything [`Redis`] guarantees holds on the cluster as on one server.
    ///
    /// Each locator's keys share one hash slot, different locators hash to different
    /// slots (entries spread over the primaries), and every script touches one slot.
    /// A moved slot is followed by the client; a failed-over or unreachable primary is
    /// a fault: counted in [`Stats::store_errors`](crate::Stats::store_errors), served
    /// by generating in the caller, and recovered from without a restart once the
    /// cluster has a primary for the slot again. Like any fault, it starts the
    /// [`fault_backoff`](Self::fault_backoff), during which the store is left alone
    /// for every slot, not only the failed primary's. The near cache's subscription is to
    /// one node at a time (a cluster broadcasts every message to all of its nodes),
    /// remade on another node given when that one is lost.
    ///
    /// Like [`redis`](Self::redis), it never connects: the first store access does
    /// (asking the cluster for its slots), and the cache works without a store until
    /// the cluster answers. A URL that does not parse is logged at `error`, and the
    /// cache then runs without a store.
    ///
    /// ```
    /// use std::time::Duration;
    /// use async_cache_runtime::{Cache, Redis};
    ///
    /// let cache: Cache<Redis> = Cache::builder()
    ///     .redis_cluster(&[
    ///         "redis://10.0.0.1:6379/",
    ///         "redis://10.0.0.2:6379/",
    ///         "redis://10.0.0.3:6379/",
    ///     ])
    ///     .key_prefix("myapp:")
    ///     .near_cache(Duration::from_secs(60))
    ///     .build();
    /// # drop(cache);
    /// ```
    pub fn redis_cluster(self, urls: &[&str]) -> CacheBuilder<Redis> {
        CacheBuilder {
            settings: self.settings,
            store: RedisConfig {
                deployment: Deployment::Cluster(urls.iter().map(|&url| url.to_owned()).collect()),
                ..RedisConfig::default()
            },
        }
    }
}

impl CacheBuilder<Redis> {
    /// The namespace of this cache's keys in Redis (default [`DEFAULT_KEY_PREFIX`]).
    /// Caches with the same prefix on the same server share their entries; give
    /// caches of different applications different prefixes.
    pub fn key_prefix(mut self, prefix: &str) -> Self {
        prefix.clone_into(&mut self.store.key_prefix);
        self
    }

    /// A local tier in front of Redis, holding decoded entries for at most `ttl`
    /// (and at most [`max_capacity`](CacheBuilder::max_capacity) of them): a hot
    /// entry then costs no round trip nor decoding. This process's own writes and
    /// invalidations are seen at once; another process's reach it within
    /// milliseconds through a pub/sub channel under the prefix (the subscription is
    /// in place before the cache's first store access returns). If the subscription
    /// is lost, copies live at most `ttl`, and the near cache is cleared once it is
    /// back, so `ttl` bounds how stale a copy can be when messages are lost, and can
    /// be minutes rather than a fraction of a second. Off by default.
    pub fn near_cache(mut self, ttl: Duration) -> Self {
        self.store.near_cache = Some(ttl).filter(|ttl| !ttl.is_zero());
        self
    }

    /// How long one Redis command may take (default [`DEFAULT_COMMAND_TIMEOUT`]).
    /// Past it the command counts as a fault: the fetch goes on without the store
    /// (it generates in the caller), and the fault is counted in
    /// [`Stats::store_errors`](crate::Stats::store_errors). Also bounds each attempt
    /// to connect.
    pub fn command_timeout(mut self, timeout: Duration) -> Self {
        self.store.command_timeout = timeout;
        self
    }

    /// After a fault (no connection, or no answer in time), how long the cache leaves
    /// Redis alone (default [`DEFAULT_FAULT_BACKOFF`]): its store accesses fail at
    /// once instead of each waiting for a timeout. Then one access probes Redis; when
    /// it answers, all go back to it. `Duration::ZERO` probes on every access.
    pub fn fault_backoff(mut self, backoff: Duration) -> Self {
        self.store.fault_backoff = backoff;
        self
    }

    /// The largest encoded entry written to Redis (default
    /// [`DEFAULT_MAX_VALUE_BYTES`]). A larger value is still returned to its callers
    /// but not stored (logged at `warn`): it is generated again on the next fetch.
    pub fn max_value_bytes(mut self, bytes: usize) -> Self {
        self.store.max_value_bytes = bytes;
        self
    }

    /// How long a process's claim on refreshing one locator lives without renewal
    /// (default [`DEFAULT_REFRESH_LOCK_TTL`]). The claim is released when the refresh
    /// ends, and renewed about every third of this while it runs, so a refresh that
    /// takes longer stays the only one; this bounds how long a crashed process keeps
    /// others from refreshing (its claim lapses this long after its last renewal).
    pub fn refresh_lock_ttl(mut self, ttl: Duration) -> Self {
        self.store.refresh_lock_ttl = ttl.max(Duration::from_millis(1));
        self
    }

    /// Cross-process miss coalescing (default 5 s): how
    /// long a miss lock lives, and so how long a process waits for another process's
    /// generation of the same or a newer version of a missing entry before it
    /// generates itself. A holder whose generation fails, panics or is cancelled
    /// releases its lock at once, and a waiter then takes over within about 100 ms.
    ///
    /// ```
    /// use std::time::Duration;
    /// use async_cache_runtime::{Cache, Redis};
    ///
    /// let cache: Cache<Redis> = Cache::builder()
    ///     .redis("redis://127.0.0.1:6379/")
    ///     .miss_lock_timeout(Duration::from_secs(2))
    ///     .build();
    /// # drop(cache);
    /// ```
    pub fn miss_lock_timeout(mut self, wait: Duration) -> Self {
        self.store.miss_lock_timeout = wait.max(Duration::from_millis(1));
        self
    }
}
