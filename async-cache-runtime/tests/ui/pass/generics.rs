use std::collections::BTreeMap;
use std::fmt::Debug;
use std::hash::Hash;

use async_cache_runtime::async_cached;

/// Docs, attributes, visibility, generics and `where` clauses are kept.
#[async_cached(locator = format!("index/{name}"), version = revision)]
#[must_use]
pub async fn index<'a, K, V: Clone, const N: usize>(
    name: &'a str,
    revision: u64,
    entries: Vec<(K, V)>,
) -> BTreeMap<K, [V; N]>
where
    K: Ord + Hash + Debug + Clone + Send + Sync + 'static,
    V: Send + Sync + 'static,
{
    let _: &str = name;
    entries
        .into_iter()
        .map(|(k, v)| (k, std::array::from_fn(|_| v.clone())))
        .collect()
}

#[async_cached(locator = "unit", version = ())]
async fn unit() {}

#[async_cached(locator = "option", version = 1_u8)]
async fn option(input: &str) -> Option<u32> {
    let n: u32 = input.parse().ok()?;
    Some(n * 2)
}

async fn version_of(key: &str) -> Option<u32> {
    key.len().try_into().ok()
}

#[async_cached(locator = key, version = version_of(key).await?)]
async fn question_mark_in_version(key: &'static str) -> Option<String> {
    Some(key.to_uppercase())
}

fn main() {
    let _ = index::<u8, String, 2>;
    let _ = unit;
    let _ = option;
    let _ = question_mark_in_version;
}
