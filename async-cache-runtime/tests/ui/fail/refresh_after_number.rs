use async_cache_runtime::async_cached;

#[async_cached(locator = "k", refresh_after = 60)]
async fn f() -> u32 {
    1
}

fn main() {}
