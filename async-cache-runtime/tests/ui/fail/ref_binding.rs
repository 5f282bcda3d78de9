use async_cache_runtime::async_cached;

#[async_cached(locator = "k", version = 1)]
async fn f(ref name: String) -> usize {
    name.len()
}

fn main() {}
