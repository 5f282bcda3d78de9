//! Version-based stale-while-revalidate caching for async Rust.
//!
//! An entry has a *locator* (a constant key such as `"things/123"`), the *version* it
//! was generated for (say the thing's `updated_at`), and the *value*. A fetch names
//! the version it wants:
//!
//! | stored entry | requested vs stored version | worker | `force_sync` | action | caller gets |
//! | --- | --- | --- | --- | --- | --- |
//! | none (or expired, or of other types) | - | - | - | generate now, store | fresh value |
//! | present | requested <= stored | - | - | nothing | stored value (hit) |
//! | present | requested > stored | yes | false | one background refresh | stored value, at once |
//! | present | requested > stored | no | false | generate now, store | fresh value |
//! | present | requested > stored | - | true | generate now (or join a running refresh) | fresh value |
//!
//! A slightly stale value is served in microseconds while an up-to-date one is made in
//! the background, once, however many requests see it stale. Concurrent misses run the
//! generator once. A refresh never overwrites a newer version, a failed one keeps the
//! stale value, and invalidation wins over generations already running.
//!
//! ```
//! use async_cache_runtime::Cache;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let cache = Cache::new();
//! let updated_at = 20151210063911_u64;
//! let json = cache
//!     .fetch("things/123", updated_at, || async { r#"{"id":123}"#.to_string() })
//!     .await;
//! assert_eq!(json, r#"{"id":123}"#);
//! # }
//! ```
//!
//! "Worker" means a background refresh can run: a tokio runtime is reachable (the
//! builder's, or the caller's current one) and [`CacheBuilder::refresh_concurrency`]
//! is not 0. Under another executor (`futures::executor::block_on`, say) outdated
//! entries are regenerated in the caller, never left stale forever.
//!
//! Every fetch is counted in [`Stats`]; [`Served`] says how one was served.
//!
//! Observability: with the `metrics` feature, the counters of [`Stats`] (labelled by
//! [`CacheBuilder::name`]), the time each generator ran, the age of each entry served
//! stale, the lag from an entry's first stale read to its refreshed write, and the
//! refreshes running and queued are reported through the `metrics` facade, so any
//! exporter serves them (`async_cache_*`: the README lists every metric). Every
//! generator run is inside a `tracing` span `async_cache.generate` (INFO, target
//! `async_cache_runtime`, fields `cache`, `locator`, `kind`, `outcome`): a child of
//! the caller's span when run in the caller, a root span that follows from the
//! scheduling read's span when run as a background refresh.
#![warn(missing_docs)]

mod builder;
mod cache;
mod decision;
mod engine;
mod flights;
mod global;
mod options;
mod served;
mod stats;
pub mod store;
mod telemetry;
mod worker;

#[cfg(feature = "macros")]
pub use async_cache_macros::async_cached;
pub use builder::{
    CacheBuilder, DEFAULT_MAX_CAPACITY, DEFAULT_NAME, DEFAULT_REFRESH_CONCURRENCY,
    DEFAULT_REFRESH_QUEUE_CAPACITY,
};
pub use cache::Cache;
pub use global::{global, set_global};
pub use options::FetchOptions;
pub use served::Served;
pub use stats::Stats;
#[cfg(feature = "redis")]
pub use store::{
    DEFAULT_COMMAND_TIMEOUT, DEFAULT_FAULT_BACKOFF, DEFAULT_KEY_PREFIX, DEFAULT_MAX_VALUE_BYTES,
    DEFAULT_REFRESH_LOCK_TTL, Redis,
};

#[doc(hidden)]
#[path = "private.rs"]
pub mod __private;

/// The README's examples, compiled and run as doctests.
#[cfg(all(doctest, feature = "redis"))]
#[doc = include_str!("../../README.md")]
struct ReadmeDoctests;
