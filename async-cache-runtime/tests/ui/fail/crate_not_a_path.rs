use async_cache_runtime::async_cached;

#[async_cached(locator = "k", version = 1, crate = "async cache runtime")]
async fn f() -> u32 {
    1
}

fn main() {}
