use async_cache_runtime::async_cached;

#[async_cached(locator = "k", version = 1)]
async fn f<'a>(words: Vec<&'a str>) -> usize {
    words.len()
}

fn main() {}
