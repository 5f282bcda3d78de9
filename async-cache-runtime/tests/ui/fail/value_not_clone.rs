use async_cache_runtime::async_cached;

struct Page(String);

#[async_cached(locator = "k", version = 1)]
async fn f() -> Page {
    Page(String::new())
}

fn main() {}
