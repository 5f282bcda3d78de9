use async_cache_runtime::async_cached;

struct Key(String);

#[async_cached(locator = key.0.as_str(), version = 1)]
async fn f(key: Key) -> usize {
    key.0.len()
}

fn main() {}
