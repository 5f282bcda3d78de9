use async_cache_runtime::async_cached;

// Owned through `ToOwned`, which a type that is not `Clone` lacks.
struct Opaque(u8);

#[async_cached(locator = "k", version = 1)]
async fn f(value: &Opaque) -> u8 {
    value.0
}

fn main() {}
