use async_cache_runtime::async_cached;

#[async_cached(locator = "k", version = 1, force_sync = level)]
async fn f(level: u8) -> u32 {
    1
}

fn main() {}
