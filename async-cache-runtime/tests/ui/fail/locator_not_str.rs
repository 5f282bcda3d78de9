use async_cache_runtime::async_cached;

#[async_cached(locator = 42, version = 1)]
async fn f() -> u32 {
    1
}

fn main() {}
