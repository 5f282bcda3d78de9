use std::rc::Rc;

use async_cache_runtime::async_cached;

// Neither `Send` nor `Sync`: one error, about the first.
#[async_cached(locator = "k", version = Rc::new(1_u64))]
async fn f() -> u32 {
    1
}

fn main() {}
