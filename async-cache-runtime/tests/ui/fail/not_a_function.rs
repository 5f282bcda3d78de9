use async_cache_runtime::async_cached;

#[async_cached(locator = "k", version = 1)]
struct Thing;

fn main() {}
