use std::sync::LazyLock;

use async_cache_runtime::{Cache, async_cached};

static CACHE: LazyLock<Cache> = LazyLock::new(Cache::new);

#[async_cached(locator = "k", version = 1, cache = CACHE)]
async fn f() -> u32 {
    1
}

fn main() {}
