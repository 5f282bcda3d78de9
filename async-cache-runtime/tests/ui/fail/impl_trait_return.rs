use async_cache_runtime::async_cached;

#[async_cached(locator = "k", version = 1)]
async fn f() -> impl std::fmt::Display {
    1
}

fn main() {}
