//! Helpers shared by the integration tests.
#![allow(dead_code)]

#[cfg(feature = "redis")]
pub mod redis_server;
