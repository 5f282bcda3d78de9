//! Compile tests of `#[async_cached]`: tricky valid forms compile, and every misuse
//! is one spanned error. Regenerate the `.stderr` files with `TRYBUILD=overwrite`.

#[test]
fn ui() {
    let t = trybuild::TestCases::new();
    t.pass("tests/ui/pass/*.rs");
    t.compile_fail("tests/ui/fail/*.rs");
    // A shared-tier cache needs serde of what it caches.
    #[cfg(feature = "redis")]
    t.compile_fail("tests/ui/redis/*.rs");
}
