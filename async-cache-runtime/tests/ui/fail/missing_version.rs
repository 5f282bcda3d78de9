use async_cache_runtime::async_cached;

#[async_cached(locator = "k")]
async fn f() -> u32 {
    1
}

fn main() {}
