use async_cache_runtime::async_cached;

async fn version() -> Result<u64, String> {
    Ok(1)
}

#[async_cached(locator = "k", version = version().await?)]
async fn f() -> u32 {
    1
}

fn main() {}
