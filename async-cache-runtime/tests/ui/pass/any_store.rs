use async_cache_runtime::store::Store;
use async_cache_runtime::{Cache, async_cached};

// One annotated function for any store: the memory one, or the shared tier.
#[async_cached(locator = format!("things/{id}"), version = updated_at, cache = cache)]
async fn render<S: Store<u64, String>>(cache: &Cache<S>, id: u64, updated_at: u64) -> String {
    format!("{id} at {updated_at}")
}

fn main() {
    let memory = Cache::new();
    let _ = render(&memory, 1, 1);
}
