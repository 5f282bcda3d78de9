//! The shared tier's fixture, under the path `redis_attribute.rs` imports it by; the
//! fixture itself is the workspace's one, in `test-support`.
#![allow(unused_imports)]

#[cfg(feature = "redis")]
pub use test_support::redis_server;
