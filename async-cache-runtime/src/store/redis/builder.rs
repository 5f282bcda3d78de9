//! The builder methods of a Redis-backed cache, and what they collect.

use std::time::Duration;

use super::Redis;
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
/// The namespace of entries in Redis unless [`CacheBuilder::key_prefix`] says
/// otherwise.
pub const DEFAULT_KEY_PREFIX: &str = "async-cache:";

/// What a [`CacheBuilder<Redis>`] collects beyond the common settings.
#[derive(Clone, Debug)]
pub struct RedisConfig {
    pub(super) url: String,
    pub(super) key_prefix: String,
    pub(super) near_cache: Option<Duration>,
    pub(super) command_timeout: Duration,
    pub(super) fault_backoff: Duration,
    pub(super) max_value_bytes: usize,
    pub(super) refresh_lock_ttl: Duration,
}

impl Default for RedisConfig {
    fn default() -> Self {
        RedisConfig {
            url: "redis://127.0.0.1:6379/".into(),
            key_prefix: DEFAULT_KEY_PREFIX.into(),
            near_cache: None,
            command_timeout: DEFAULT_COMMAND_TIMEOUT,
            fault_backoff: DEFAULT_FAULT_BACKOFF,
            max_value_bytes: DEFAULT_MAX_VALUE_BYTES,
            refresh_lock_ttl: DEFAULT_REFRESH_LOCK_TTL,
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
                url: url.to_owned(),
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
    /// entry then costs no round trip nor decoding. The trade-off: a write or
    /// invalidation made by *another* process is seen here up to `ttl` late (this
    /// process's own writes and invalidations are seen at once). Off by default.
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

    /// How long a process's claim on refreshing one locator lives (default
    /// [`DEFAULT_REFRESH_LOCK_TTL`]). The claim is released when the refresh ends;
    /// this bounds how long a crashed process keeps others from refreshing. A refresh
    /// that runs longer than this may be joined by one in another process (harmless:
    /// the no-downgrade rule settles which result stays).
    pub fn refresh_lock_ttl(mut self, ttl: Duration) -> Self {
        self.store.refresh_lock_ttl = ttl.max(Duration::from_millis(1));
        self
    }
}
