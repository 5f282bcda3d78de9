use async_cache_runtime::async_cached;

#[derive(Clone)]
struct Thing {
    score: f32,
}

#[async_cached(locator = "k", version = thing.score)]
async fn f(thing: &Thing) -> u32 {
    let _ = thing;
    1
}

fn main() {}
