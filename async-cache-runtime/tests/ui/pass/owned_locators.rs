use std::fmt::Display;
use std::rc::Rc;
use std::time::Duration;

use async_cache_runtime::async_cached;

// A locator whose value is an owned `String` borrows nothing, and neither does the
// version: the arguments they mention are moved into the generation, so generic and
// `impl Trait` arguments need no `Clone`.
#[async_cached(locator = format!("g/{x}"), version = 1u64)]
async fn g<T: Display + Send + Sync + 'static>(x: T) -> String {
    format!("<{x}>")
}

#[async_cached(locator = x.to_string(), version = v.len(), expires_in = ttl, force_sync = x.to_string().is_empty())]
async fn h(x: impl Display + Send + Sync + 'static, v: Vec<u8>, ttl: Duration) -> String {
    format!("<{x}> {v:?} {ttl:?}")
}

#[async_cached(locator = String::from(name.as_str()), version = 2u8)]
async fn from(name: Name) -> String {
    name.0
}

struct Name(String);

impl Name {
    fn as_str(&self) -> &str {
        &self.0
    }
}

// A place locator is borrowed (the argument is cloned only when a generation runs);
// a place version is cloned out of an argument the body also uses.
#[async_cached(locator = key, version = rev)]
async fn places(key: String, rev: String) -> String {
    format!("{key}@{rev}")
}

// Arguments the body only shadows are not taken: no `Send` needed.
#[async_cached(locator = "shadowed", version = 1u8)]
#[allow(unused_variables)]
async fn shadowed(a: Rc<u8>, b: Rc<u8>) -> u8 {
    let a = 1;
    let add = |b: u8| b + a;
    add(2)
}

fn main() {
    let _ = g::<u8>;
    let _ = h(1_u8, Vec::new(), Duration::ZERO);
    let _ = (from, places, shadowed);
}
