use async_cache_runtime::async_cached;

#[async_cached(locator = "k", version = 1)]
async fn f(buffer: &mut Vec<u8>) -> usize {
    buffer.len()
}

fn main() {}
