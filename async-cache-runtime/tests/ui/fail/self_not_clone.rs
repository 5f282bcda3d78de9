use async_cache_runtime::async_cached;

struct Service {
    name: String,
}

impl Service {
    #[async_cached(locator = "k", version = 1)]
    async fn name(&self) -> String {
        self.name.clone()
    }
}

fn main() {}
