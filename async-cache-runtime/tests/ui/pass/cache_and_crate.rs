extern crate async_cache_runtime as renamed;

use std::sync::{Arc, LazyLock, OnceLock};
use std::time::Duration;

use renamed::{Cache, async_cached};

static LAZY: LazyLock<Cache> = LazyLock::new(Cache::new);
static ONCE: OnceLock<Cache> = OnceLock::new();

fn cache() -> &'static Cache {
    ONCE.get_or_init(Cache::new)
}

struct State {
    cache: Arc<Cache>,
}

#[async_cached(locator = "lazy", version = 1_u8, cache = &LAZY)]
async fn lazy() -> u8 {
    1
}

#[async_cached(locator = "fn", version = 1_u8, cache = cache(), crate = ::renamed)]
async fn from_fn() -> u8 {
    1
}

#[async_cached(locator = "state", version = 1_u8, cache = &state.cache, crate = renamed)]
async fn from_state(state: &State, n: u8) -> u8 {
    n
}

#[async_cached(
    crate = ::async_cache_runtime,
    expires_in = Duration::from_secs(ttl),
    force_sync = ttl == 0,
    version = ttl,
    locator = "all",
)]
async fn every_argument(ttl: u64) -> u64 {
    ttl
}

// As a string, as tokio and serde accept it.
#[async_cached(locator = "string", version = 1_u8, crate = "::renamed")]
async fn crate_as_string() -> u8 {
    1
}

fn main() {
    let _ = (lazy, from_fn, from_state, every_argument, crate_as_string);
}
