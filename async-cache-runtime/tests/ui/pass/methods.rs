use std::sync::{Arc, LazyLock};

use async_cache_runtime::{Cache, async_cached};

static SHARED: LazyLock<Cache> = LazyLock::new(Cache::new);

#[derive(Clone)]
struct Service {
    name: Arc<str>,
    cache: Cache,
}

mod helpers {
    pub fn shout(s: &str) -> String {
        s.to_uppercase()
    }
}

impl Service {
    fn label(&self) -> &str {
        &self.name
    }

    // `self` inside macro invocations, closures and nested blocks is the clone; a
    // `self::` path and the `self` of a nested item are left alone.
    #[async_cached(locator = format!("{}/{id}", self.name), version = 1_u8, cache = &self.cache)]
    async fn by_ref(&self, id: u32) -> String {
        use self::helpers as h;
        fn nested(x: u32) -> u32 {
            struct Local;
            impl Local {
                fn get(&self) -> u32 {
                    1
                }
            }
            x + Local.get()
        }
        let via_closure = || self.label().to_owned();
        let mut text = format!("{} {} {}", self.name, id, via_closure());
        text.push_str(&h::shout(self.label()));
        assert!(matches!(self, Service { .. }));
        text.push_str(&nested(id).to_string());
        text
    }

    // A `macro_rules!` defined in the body names the method's `self` (rewritten, as
    // async-trait does); the `self` of a nested `impl` stays its own.
    #[async_cached(locator = "macro_rules", version = 1_u8, cache = &SHARED)]
    async fn in_macro_rules(&self) -> String {
        macro_rules! name {
            () => {
                self.name.to_string()
            };
        }
        struct Other(u8);
        impl Other {
            fn get(&self) -> u8 {
                self.0
            }
        }
        format!("{}{}", name!(), Other(1).get())
    }

    // By value: moved, or cloned when an expression mentions `self`.
    #[async_cached(locator = "by_value", version = 1_u8, cache = &SHARED)]
    async fn by_value(mut self) -> String {
        self.name = "renamed".into();
        self.name.to_string()
    }

    #[async_cached(locator = self.name.to_string(), version = 1_u8, cache = &SHARED)]
    async fn arc_self(self: Arc<Self>) -> usize {
        self.name.len()
    }

    #[async_cached(locator = "no_self", version = 1_u8)]
    async fn self_unused(&self, x: u8) -> u8 {
        x
    }

    #[async_cached(locator = "assoc", version = 1_u8)]
    async fn associated() -> &'static str {
        "no receiver"
    }
}

trait Describe {
    async fn describe(&self) -> String;
}

impl Describe for Service {
    #[async_cached(locator = "describe", version = 1_u8)]
    async fn describe(&self) -> String {
        self.name.to_string()
    }
}

fn main() {}
