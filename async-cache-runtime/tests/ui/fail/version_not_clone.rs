use std::rc::Rc;

use async_cache_runtime::async_cached;

// Neither `Clone`, `Send` nor `Sync`: one error, about the first.
#[derive(PartialEq, Eq, PartialOrd, Ord)]
struct Revision(Rc<u64>);

#[async_cached(locator = "k", version = Revision(Rc::new(1)))]
async fn f() -> u32 {
    1
}

fn main() {}
