//! What the workspace's tests, examples and benchmarks share, written once:
//!
//! - [`redis_server`]: a real `redis-server` on a free loopback port, which a test can
//!   stall, kill and restart for fault tests, and a Redis Cluster of them;
//! - [`alloc`]: a counting global allocator (allocations on this thread, live and peak
//!   heap bytes);
//! - [`rng`]: a small seeded generator, so that a failing run replays from its seed;
//! - [`process`]: child processes that die with their test, and temporary directories.
//!
//! Not published: nothing here is part of the library's API.

pub mod alloc;
pub mod cache_keys;
pub mod process;
pub mod redis_server;
pub mod rng;

pub use alloc::CountingAllocator;
pub use process::TempDir;
pub use redis_server::RedisServer;
pub use rng::Rng;
