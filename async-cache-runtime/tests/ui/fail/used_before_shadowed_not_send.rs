use std::rc::Rc;

use async_cache_runtime::async_cached;

// The right side of `let name = ..` is the argument: it is moved into the generation,
// which may run in a background refresh.
#[async_cached(locator = "k", version = 1)]
async fn f(name: Rc<String>) -> usize {
    let name = name.to_string();
    name.len()
}

fn main() {}
