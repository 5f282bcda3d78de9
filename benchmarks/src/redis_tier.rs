//! The Redis tier against a raw `GET` of the same payload, and its near cache, over a
//! `redis-server` the caller starts (`test_support::RedisServer::try_start`).

use std::future::ready;
use std::hint::black_box;
use std::time::{Duration, Instant};

use async_cache_runtime::{Cache, Redis};
use hdrhistogram::Histogram;

/// Bytes of the Redis benchmarks' value (a `String`: serde, unlike `Arc<str>` without
/// serde's `rc` feature).
pub const REDIS_VALUE_BYTES: usize = 64;
/// Bytes of the larger value, a page-sized one.
pub const REDIS_LARGE_VALUE_BYTES: usize = 1024;
/// Locators read in the Redis benchmarks.
pub const REDIS_KEYS: usize = 64;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RedisHit {
    /// `Cache<Redis>::fetch` of a current entry: one round trip, then decoding.
    Ours,
    /// A raw `GET` of the same payload through the `redis` crate (a multiplexed
    /// connection, as ours uses).
    RawGet,
    /// `Cache<Redis>` with a near cache: a local hit.
    NearCache,
}

impl RedisHit {
    pub const ALL: [RedisHit; 3] = [RedisHit::Ours, RedisHit::RawGet, RedisHit::NearCache];

    pub fn name(self) -> &'static str {
        match self {
            RedisHit::Ours => "ours over Redis, hit",
            RedisHit::RawGet => "raw redis GET",
            RedisHit::NearCache => "ours over Redis, near-cache hit",
        }
    }

    pub fn id(self) -> &'static str {
        match self {
            RedisHit::Ours => "ours_redis",
            RedisHit::RawGet => "raw_get",
            RedisHit::NearCache => "ours_near_cache",
        }
    }
}

pub struct RedisContenders {
    pub keys: Vec<String>,
    /// The raw `GET`'s keys, made beforehand.
    pub raw_keys: Vec<String>,
    pub ours: Cache<Redis>,
    pub near: Cache<Redis>,
    pub raw: redis::aio::MultiplexedConnection,
    /// Bytes of each value.
    pub value_bytes: usize,
}

fn value(locator: &str, bytes: usize) -> String {
    super::payload(locator, bytes).to_string()
}

impl RedisContenders {
    /// Fills every contender with [`REDIS_KEYS`] values of `value_bytes` (under a key
    /// prefix of their size, so contenders of two sizes share one server).
    pub async fn new(url: &str, value_bytes: usize) -> RedisContenders {
        let keys = super::locators(REDIS_KEYS);
        let ours: Cache<Redis> = Cache::builder()
            .redis(url)
            .key_prefix(&format!("bench-ours-{value_bytes}:"))
            .build();
        let near: Cache<Redis> = Cache::builder()
            .redis(url)
            .key_prefix(&format!("bench-near-{value_bytes}:"))
            .near_cache(Duration::from_secs(3600))
            .build();
        let mut raw = redis::Client::open(url)
            .expect("a redis URL")
            .get_multiplexed_async_connection()
            .await
            .expect("a connection to the bench's redis-server");
        let raw_keys: Vec<String> = keys
            .iter()
            .map(|key| format!("bench-raw-{value_bytes}:{key}"))
            .collect();
        for (key, raw_key) in keys.iter().zip(&raw_keys) {
            ours.fetch(key.as_str(), 1_u64, || ready(value(key, value_bytes)))
                .await;
            near.fetch(key.as_str(), 1_u64, || ready(value(key, value_bytes)))
                .await;
            let _: () = redis::cmd("SET")
                .arg(raw_key)
                .arg(value(key, value_bytes))
                .query_async(&mut raw)
                .await
                .expect("SET");
        }
        RedisContenders {
            raw_keys,
            keys,
            ours,
            near,
            raw,
            value_bytes,
        }
    }

    /// Latencies (ns) of `n` sequential hits of `which`.
    pub async fn hits(&mut self, which: RedisHit, n: usize) -> Histogram<u64> {
        let mut histogram = super::histogram();
        let bytes = self.value_bytes;
        for i in 0..n {
            let key = &self.keys[i % self.keys.len()];
            let start = Instant::now();
            let got: String = match which {
                RedisHit::Ours => {
                    self.ours
                        .fetch(key.as_str(), 1_u64, || ready(value(key, bytes)))
                        .await
                }
                RedisHit::NearCache => {
                    self.near
                        .fetch(key.as_str(), 1_u64, || ready(value(key, bytes)))
                        .await
                }
                RedisHit::RawGet => redis::cmd("GET")
                    .arg(&self.raw_keys[i % self.keys.len()])
                    .query_async::<Option<String>>(&mut self.raw)
                    .await
                    .expect("GET")
                    .expect("the key was set"),
            };
            histogram.saturating_record(start.elapsed().as_nanos() as u64);
            assert_eq!(
                got.len(),
                bytes,
                "every contender answers with the stored value"
            );
            black_box(got);
        }
        histogram
    }
}

/// Latencies (ns) of `n` sequential hits over a Redis Cluster given by `urls`:
/// `Cache<Redis>` built with `redis_cluster`, then a raw `GET` of the same payloads
/// through the `redis` crate's own cluster connection (the one ours uses), after
/// [`REDIS_KEYS`] values of [`REDIS_VALUE_BYTES`] are stored by both. Each side
/// reads its keys round-robin, so both spread over every primary.
pub async fn cluster_hits(urls: &[String], n: usize) -> (Histogram<u64>, Histogram<u64>) {
    let keys = super::locators(REDIS_KEYS);
    let seeds: Vec<&str> = urls.iter().map(String::as_str).collect();
    let ours: Cache<Redis> = Cache::builder()
        .redis_cluster(&seeds)
        .key_prefix("bench-cluster:")
        .build();
    let mut raw = redis::cluster::ClusterClient::new(seeds)
        .expect("cluster URLs")
        .get_async_connection()
        .await
        .expect("a connection to the bench's cluster");
    let raw_keys: Vec<String> = keys.iter().map(|key| format!("bench-raw:{key}")).collect();
    for (key, raw_key) in keys.iter().zip(&raw_keys) {
        ours.fetch(key.as_str(), 1_u64, || ready(value(key, REDIS_VALUE_BYTES)))
            .await;
        let _: () = redis::cmd("SET")
            .arg(raw_key)
            .arg(value(key, REDIS_VALUE_BYTES))
            .query_async(&mut raw)
            .await
            .expect("SET");
    }
    let (mut ours_ns, mut raw_ns) = (super::histogram(), super::histogram());
    for round in 0..2 * n {
        let i = round / 2;
        let key = &keys[i % keys.len()];
        let start = Instant::now();
        let got: String = if round % 2 == 0 {
            ours.fetch(key.as_str(), 1_u64, || ready(value(key, REDIS_VALUE_BYTES)))
                .await
        } else {
            redis::cmd("GET")
                .arg(&raw_keys[i % keys.len()])
                .query_async::<Option<String>>(&mut raw)
                .await
                .expect("GET")
                .expect("the key was set")
        };
        let elapsed = start.elapsed().as_nanos() as u64;
        if round % 2 == 0 {
            ours_ns.saturating_record(elapsed);
        } else {
            raw_ns.saturating_record(elapsed);
        }
        assert_eq!(
            got.len(),
            REDIS_VALUE_BYTES,
            "both answer with the stored value"
        );
        black_box(got);
    }
    assert_eq!(
        ours.stats().store_errors,
        0,
        "every hit came from the cluster"
    );
    (ours_ns, raw_ns)
}
