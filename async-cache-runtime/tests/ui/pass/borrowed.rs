use std::path::Path;

use async_cache_runtime::async_cached;

#[derive(Clone, Debug, PartialEq)]
struct Query {
    text: String,
}

// `&str`, `&[T]`, `&T`, `&Path` and `&impl Trait` are owned through `ToOwned` and keep
// their types in the body; `&'static` ones are just copied.
#[async_cached(locator = format!("{key}/{}", path.display()), version = query.text.len())]
async fn borrowed(
    key: &str,
    bytes: &[u8],
    query: &Query,
    path: &Path,
    fixed: &'static str,
    mut shadowed: &str,
) -> String {
    let _: &str = key;
    let _: &[u8] = bytes;
    let _: &Query = query;
    let _: &Path = path;
    let _: &'static str = fixed;
    shadowed = &shadowed[..0];
    format!("{key} {bytes:?} {} {} {fixed}{shadowed}", query.text, path.display())
}

// An argument the locator borrows and the body uses is cloned, not moved.
#[async_cached(locator = key.as_str(), version = 1_u8)]
async fn locator_borrows(key: String) -> String {
    key
}

// An argument only the locator uses is never copied: it may even be moved there.
#[async_cached(locator = key, version = 1_u8)]
async fn locator_takes(key: String, other: Vec<u8>) -> usize {
    other.len()
}

// Patterns.
#[async_cached(locator = "patterns", version = 1_u8)]
async fn patterns(
    (a, mut b): (u8, u8),
    Query { text }: Query,
    [first, ..]: [u16; 3],
    &c: &u8,
    _: u8,
    whole @ (d, e): (u8, u8),
) -> String {
    b += 1;
    format!("{a}{b}{text}{first}{c}{d}{e}{whole:?}")
}

async fn generic<T>(value: &T) -> T
where
    T: Clone + Send + Sync + 'static,
{
    value.clone()
}

#[async_cached(locator = "impl", version = 1_u8)]
async fn impl_trait_arg(items: impl IntoIterator<Item = u8> + Send + 'static, extra: &(impl ToString + Clone + Send + Sync + 'static)) -> usize {
    let _ = extra;
    items.into_iter().count() + generic(&1usize).await
}

fn main() {}
