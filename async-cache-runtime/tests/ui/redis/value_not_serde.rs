use std::sync::LazyLock;

use async_cache_runtime::{Cache, Redis, async_cached};

static SHARED: LazyLock<Cache<Redis>> =
    LazyLock::new(|| Cache::builder().redis("redis://127.0.0.1:1/").build());

// Fine in memory; the shared tier encodes values with serde.
#[derive(Clone)]
struct Page(String);

#[async_cached(locator = "k", version = 1_u64, cache = &SHARED)]
async fn f() -> Page {
    Page(String::new())
}

fn main() {}
