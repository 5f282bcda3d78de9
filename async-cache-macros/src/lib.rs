//! Implementation detail of `async-cache-runtime`: use `async_cache_runtime::async_cached`.
use proc_macro::TokenStream;

/// See `async_cache_runtime::async_cached`.
#[proc_macro_attribute]
pub fn async_cached(_args: TokenStream, item: TokenStream) -> TokenStream {
    item
}
