use async_cache_runtime::async_cached;

#[async_cached(locator = "k", version = 1)]
const fn f() -> u32 {
    1
}

fn main() {}
