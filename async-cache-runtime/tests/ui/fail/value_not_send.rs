use std::rc::Rc;

use async_cache_runtime::async_cached;

#[async_cached(locator = "k", version = 1)]
async fn f() -> Rc<String> {
    Rc::new(String::new())
}

fn main() {}
