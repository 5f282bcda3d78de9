use std::cell::Cell;
use std::marker::PhantomData;

use async_cache_runtime::async_cached;

#[derive(Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Revision(u64, PhantomData<Cell<u8>>);

#[async_cached(locator = "k", version = Revision(1, PhantomData))]
async fn f() -> u32 {
    1
}

fn main() {}
