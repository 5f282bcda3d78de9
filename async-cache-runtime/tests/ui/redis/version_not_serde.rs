use std::sync::LazyLock;

use async_cache_runtime::{Cache, Redis, async_cached};

static SHARED: LazyLock<Cache<Redis>> =
    LazyLock::new(|| Cache::builder().redis("redis://127.0.0.1:1/").build());

// A fine version in memory; the shared tier stores versions with serde too.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Revision(u64);

#[async_cached(locator = "k", version = Revision(1), cache = &SHARED)]
async fn f() -> String {
    String::new()
}

fn main() {}
