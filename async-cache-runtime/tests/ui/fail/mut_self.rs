use async_cache_runtime::async_cached;

#[derive(Clone)]
struct Counter(u32);

impl Counter {
    #[async_cached(locator = "k", version = 1)]
    async fn bump(&mut self) -> u32 {
        self.0 += 1;
        self.0
    }
}

fn main() {}
