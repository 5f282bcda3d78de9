use async_cache_runtime::async_cached;

#[async_cached(locator = "k", version = 1)]
fn not_async() -> u32 {
    1
}

fn main() {}
