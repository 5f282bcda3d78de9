use std::rc::Rc;

use async_cache_runtime::async_cached;

// `Rc` is `Clone` but neither `Sync` nor (owned) `Send`: one error, about the first.
#[async_cached(locator = "k", version = 1)]
async fn f(shared: &Rc<u8>) -> u8 {
    **shared
}

fn main() {}
