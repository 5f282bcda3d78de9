//! The names the shared tier gives its keys in Redis, for tests that look at or tamper
//! with what the cache stored. They follow the tier's layout, documented in its
//! `keys` module: everything under `{prefix}swr:`, a locator's keys under one hash
//! tag, its bucket (three hex digits of the locator's SHA-1, one of [`BUCKETS`]),
//! each bucket with a generation of its own; an entry is a hash of `g` (the
//! generation it was written under) and `v` (the record's bytes).

use std::fmt::Write as _;

/// How many buckets the tier spreads locators over.
pub const BUCKETS: u16 = 1024;

fn bucket(locator: &str) -> u16 {
    let digest = sha1_smol::Sha1::from(locator.as_bytes()).digest().bytes();
    u16::from_be_bytes([digest[0], digest[1]]) % BUCKETS
}

/// `{prefix}swr:{<tag>}:`, what every key of `locator` starts with.
fn locator_base(prefix: &str, locator: &str) -> String {
    let mut base = format!("{prefix}swr:");
    let _ = write!(base, "{{{:03x}}}:", bucket(locator));
    base
}

/// The key of `locator`'s entry (of whatever generation).
pub fn entry(prefix: &str, locator: &str) -> String {
    format!("{}e:{locator}", locator_base(prefix, locator))
}

/// The key of `locator`'s refresh lock.
pub fn refresh_lock(prefix: &str, locator: &str) -> String {
    format!("{}lock:{locator}", locator_base(prefix, locator))
}

/// The key of `locator`'s miss lock.
pub fn miss_lock(prefix: &str, locator: &str) -> String {
    format!("{}miss:{locator}", locator_base(prefix, locator))
}

/// The key of the generation of `locator`'s bucket.
pub fn generation(prefix: &str, locator: &str) -> String {
    format!("{}gen", locator_base(prefix, locator))
}

/// Every bucket's generation key.
pub fn generations(prefix: &str) -> Vec<String> {
    (0..BUCKETS)
        .map(|bucket| format!("{prefix}swr:{{{bucket:03x}}}:gen"))
        .collect()
}

/// The generation of `locator`'s bucket now (the tier writes it on first access).
pub fn current_generation(admin: &mut redis::Connection, prefix: &str, locator: &str) -> String {
    redis::cmd("GET")
        .arg(generation(prefix, locator))
        .query::<Option<String>>(admin)
        .expect("the test's redis-server answers")
        .expect("the cache has written its generation")
}

/// The record bytes of `locator`'s entry, if one of the current generation is stored.
pub fn read_entry(admin: &mut redis::Connection, prefix: &str, locator: &str) -> Option<Vec<u8>> {
    let generation: Option<String> = redis::cmd("GET")
        .arg(generation(prefix, locator))
        .query(admin)
        .expect("the test's redis-server answers");
    let (stored, bytes): (Option<String>, Option<Vec<u8>>) = redis::cmd("HMGET")
        .arg(entry(prefix, locator))
        .arg("g")
        .arg("v")
        .query(admin)
        .expect("the test's redis-server answers");
    bytes.filter(|_| generation.is_some() && stored == generation)
}

/// Stores `bytes` as `locator`'s record in the current generation, as the tier
/// would (for tests of what it does with bytes it did not write).
pub fn write_entry(admin: &mut redis::Connection, prefix: &str, locator: &str, bytes: &[u8]) {
    let generation = current_generation(admin, prefix, locator);
    let key = entry(prefix, locator);
    let _: () = redis::pipe()
        .atomic()
        .cmd("DEL")
        .arg(&key)
        .ignore()
        .cmd("HSET")
        .arg(&key)
        .arg("g")
        .arg(&generation)
        .arg("v")
        .arg(bytes)
        .ignore()
        .query(admin)
        .expect("the test's redis-server answers");
}
