use async_cache_runtime::async_cached;

#[async_cached(locator = "k", version = 1, colour = "red")]
async fn f() -> u32 {
    1
}

fn main() {}
