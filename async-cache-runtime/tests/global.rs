//! `global()` and `set_global()`: one process-wide cache, configured once. Its own test
//! binary, since the default is process-wide.

use async_cache_runtime::{Cache, global, set_global};

#[tokio::test]
async fn set_global_configures_the_default_once_before_first_use() {
    let configured = Cache::builder().max_capacity(5).build();
    let handle = configured.clone();
    assert!(set_global(configured).is_ok());
    assert!(
        set_global(Cache::new()).is_err(),
        "a second configuration is refused"
    );

    assert_eq!(global().fetch("k", 1, || async { 1 }).await, 1);
    assert_eq!(global().fetch("k", 1, || async { 2 }).await, 1);
    // The default is the configured cache: its clone sees the same entries.
    assert_eq!(handle.fetch("k", 1, || async { 3 }).await, 1);
    assert_eq!(handle.stats().hits, 2);
    assert!(std::ptr::eq(global(), global()));
}
