use async_cache_runtime::async_cached;

trait Render {
    #[async_cached(locator = "k", version = 1)]
    async fn render(&self) -> String;
}

fn main() {}
