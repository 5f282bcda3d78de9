//! The names the shared tier gives its keys in Redis, for tests that look at or tamper
//! with what the cache stored. They follow the tier's layout, documented in its
//! `keys` module: everything under `{prefix}swr:`, a locator's keys under one
//! hash tag of 16 hex digits of the locator's SHA-1.

use std::fmt::Write as _;

/// `{prefix}swr:{<tag>}:`, what every key of `locator` starts with.
fn locator_base(prefix: &str, locator: &str) -> String {
    let digest = sha1_smol::Sha1::from(locator.as_bytes()).digest().bytes();
    let mut base = format!("{prefix}swr:{{");
    for byte in &digest[..8] {
        let _ = write!(base, "{byte:02x}");
    }
    base.push_str("}:");
    base
}

/// The key of `locator`'s entry in generation `generation`.
pub fn entry(prefix: &str, generation: &str, locator: &str) -> String {
    format!("{}e:{generation}:{locator}", locator_base(prefix, locator))
}

/// The key of `locator`'s refresh lock.
pub fn refresh_lock(prefix: &str, locator: &str) -> String {
    format!("{}lock:{locator}", locator_base(prefix, locator))
}

/// The key of the generation number.
pub fn generation(prefix: &str) -> String {
    format!("{prefix}swr:gen")
}

/// The generation number now (the tier writes it on first access).
pub fn current_generation(admin: &mut redis::Connection, prefix: &str) -> String {
    redis::cmd("GET")
        .arg(generation(prefix))
        .query::<Option<String>>(admin)
        .expect("the test's redis-server answers")
        .expect("the cache has written its generation")
}

/// The key of `locator`'s entry in the current generation.
pub fn current_entry(admin: &mut redis::Connection, prefix: &str, locator: &str) -> String {
    entry(prefix, &current_generation(admin, prefix), locator)
}
