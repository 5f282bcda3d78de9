//! Contract §2.8 (crate docs): a fresh hit allocates nothing of its own. Counted with
//! the counting global allocator of `test-support`, on this thread.

use std::sync::Arc;

use async_cache_runtime::{Cache, async_cached};
use test_support::CountingAllocator;

#[global_allocator]
static ALLOCATOR: CountingAllocator = CountingAllocator::new();

fn allocations() -> u64 {
    ALLOCATOR.thread_allocations()
}

/// Without the counting allocator in use every count would be zero and the test would
/// pass vacuously.
fn assert_counting() {
    let before = allocations();
    drop(std::hint::black_box(Box::new(0_u64)));
    assert_eq!(
        allocations(),
        before + 1,
        "the counting allocator counts this thread"
    );
}

const HITS: u64 = 10_000;

static CACHE: std::sync::LazyLock<Cache> = std::sync::LazyLock::new(Cache::new);

#[async_cached(locator = key, version = 1_u64, cache = &CACHE)]
async fn annotated(key: &'static str, payload: Arc<Vec<u8>>) -> Arc<Vec<u8>> {
    payload
}

#[test]
fn fresh_hits_allocate_nothing_of_their_own() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    runtime.block_on(async {
        assert_counting();
        let cache = Cache::new();
        let value = Arc::new(vec![7_u8; 4096]);
        let keys: Vec<String> = (0..100).map(|i| format!("things/{i}")).collect();
        for key in &keys {
            let value = value.clone();
            cache.fetch(key, 1_u64, || async move { value }).await;
        }
        let before = allocations();
        for i in 0..HITS {
            let key = &keys[(i % 100) as usize];
            let hit = cache.fetch(key, 1_u64, || async { unreachable_value() }).await;
            assert_eq!(hit.len(), 4096);
        }
        let direct = allocations() - before;

        let payload = Arc::new(vec![1_u8; 16]);
        annotated("k", payload.clone()).await;
        let before = allocations();
        for _ in 0..HITS {
            assert_eq!(annotated("k", payload.clone()).await.len(), 16);
        }
        let through_the_attribute = allocations() - before;

        // The same reads on a raw moka cache: its amortized housekeeping allocates now
        // and then, and so may ours; anything of our own would allocate on every hit.
        let raw = moka::sync::Cache::<String, Arc<Vec<u8>>>::new(10_000);
        for key in &keys {
            raw.insert(key.clone(), value.clone());
        }
        let before = allocations();
        for i in 0..HITS {
            let hit = raw.get(keys[(i % 100) as usize].as_str()).unwrap();
            assert_eq!(hit.len(), 4096);
        }
        let moka = allocations() - before;

        println!(
            "allocations in {HITS} hits: direct {direct}, attribute {through_the_attribute}, raw moka {moka}"
        );
        let slack = moka + HITS / 100;
        assert!(direct <= slack, "{direct} allocations in {HITS} hits");
        assert!(
            through_the_attribute <= slack,
            "{through_the_attribute} allocations in {HITS} attribute hits"
        );
    });
}

fn unreachable_value() -> Arc<Vec<u8>> {
    panic!("a hit never generates")
}
