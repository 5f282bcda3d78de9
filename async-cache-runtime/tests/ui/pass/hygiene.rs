//! User items named like what the expansion uses change nothing.
#![allow(dead_code)]

use async_cache_runtime::async_cached;

struct Cache;
struct Option;
struct Box;
struct Some;
struct None;
type Result = ();
mod core {}
mod std {}
fn global() {}
fn options() {}
trait Clone {}
trait Send {}
trait Future {}

// Names the expansion binds internally are free for the user.
#[async_cached(locator = __async_cached_locator, version = __async_cached_version)]
async fn collide(
    __async_cached_locator: &'static str,
    __async_cached_version: u64,
    __async_cached_cache: u32,
    __async_cached_ret: u32,
    __async_cached_self: u32,
) -> u32 {
    __async_cached_cache + __async_cached_ret + __async_cached_self
}

// Types named like the checks' traits and results, in the return type (where the
// store check's names are in scope) and in the arguments.
#[derive(Clone)]
struct IsStore;
#[derive(Clone)]
struct NotStore;
struct IsVersion;
struct VersionCheck;
struct Yes;
struct No;

#[async_cached(locator = "checks", version = 1_u8)]
async fn checks(a: &'static IsVersion, b: VersionCheck, c: Yes, d: No) -> (IsStore, NotStore) {
    let _ = (a, b, c, d);
    (IsStore, NotStore)
}

fn main() {}
