//! The names of every key the tier writes, all under `{prefix}swr:`, a namespace of
//! the cache's own, so that the `invalidate_all` sweep (and an operator's `SCAN`)
//! can tell the cache's keys from the application's, whatever the prefix.
//!
//! ```text
//! {prefix}swr:builds                       hash: fingerprint -> first seen (Redis TIME)
//! {prefix}swr:{<tag>}:gen                  the generation of the tag's bucket (invalidate_all)
//! {prefix}swr:{<tag>}:e:<locator>          an entry: hash of `g` (its generation), `v` (the record)
//! {prefix}swr:{<tag>}:lock:<locator>       the refresh lock
//! {prefix}swr:{<tag>}:miss:<locator>       the miss lock (one generation per fleet)
//! {prefix}swr:events                       the backplane's pub/sub channel
//! ```
//!
//! `<tag>` is the locator's bucket, three hex digits (one of [`BUCKETS`]) taken from
//! the SHA-1 of the locator, in braces: a Redis Cluster hash tag, so that every key
//! of one locator, and the generation it is read under, lie in one hash slot (each
//! script touches one slot, with all its keys declared), while locators spread over
//! the buckets' slots and so over the primaries. The locator itself is not the tag:
//! it may contain `{` or `}` (an empty or cut tag would split one locator's keys
//! over slots). Everything up to the tag's `}` is the same for all keys of a bucket,
//! so they share a slot even when the prefix holds braces of its own (all of the
//! cache's keys then share the prefix's slot).

use std::fmt::Write as _;

/// The marker segment after the prefix.
pub(super) const MARKER: &str = "swr:";

/// How many buckets (hash tags, each with a generation key of its own) locators
/// are spread over: enough to spread entries over the primaries of any cluster
/// people run, few enough that `invalidate_all` bumps them all in a moment.
pub(super) const BUCKETS: u16 = 1024;

/// The keys of one locator.
pub(super) struct LocatorKeys {
    /// The generation key of the locator's bucket.
    pub(super) generation: String,
    pub(super) entry: String,
}

pub(super) struct Keys {
    prefix: String,
    builds_key: String,
    /// Every bucket's generation key, in bucket order.
    generations: std::sync::Arc<[String]>,
}

impl Keys {
    pub(super) fn new(prefix: &str) -> Self {
        Keys {
            prefix: prefix.to_owned(),
            builds_key: format!("{prefix}{MARKER}builds"),
            generations: (0..BUCKETS)
                .map(|bucket| format!("{}gen", bucket_base(prefix, bucket)))
                .collect(),
        }
    }

    pub(super) fn prefix(&self) -> &str {
        &self.prefix
    }

    pub(super) fn builds(&self) -> &str {
        &self.builds_key
    }

    /// Every bucket's generation key: what `invalidate_all` bumps.
    pub(super) fn generations(&self) -> std::sync::Arc<[String]> {
        self.generations.clone()
    }

    /// `{prefix}swr:{<tag>}:`, what every key of `locator` starts with.
    fn locator_base(&self, locator: &str) -> String {
        bucket_base(&self.prefix, bucket(locator))
    }

    /// The entry key and its bucket's generation key, with one hash of the locator.
    pub(super) fn locator(&self, locator: &str) -> LocatorKeys {
        let base = self.locator_base(locator);
        let mut entry = String::with_capacity(base.len() + 2 + locator.len());
        entry.push_str(&base);
        entry.push_str("e:");
        entry.push_str(locator);
        let mut generation = base;
        generation.push_str("gen");
        LocatorKeys { generation, entry }
    }

    pub(super) fn refresh_lock(&self, locator: &str) -> String {
        let mut key = self.locator_base(locator);
        key.push_str("lock:");
        key.push_str(locator);
        key
    }

    pub(super) fn miss_lock(&self, locator: &str) -> String {
        let mut key = self.locator_base(locator);
        key.push_str("miss:");
        key.push_str(locator);
        key
    }

    /// A `SCAN MATCH` pattern for every entry key, and nothing else (not the locks,
    /// not the generations, not the application's keys).
    pub(super) fn entry_pattern(&self) -> String {
        format!(
            "{}{MARKER}\\{{{}\\}}:e:*",
            glob_escape(&self.prefix),
            "?".repeat(3)
        )
    }

    /// The generation key of the bucket of an entry key that
    /// [`entry_pattern`](Self::entry_pattern) matched.
    pub(super) fn generation_of_entry(&self, key: &[u8]) -> Option<&str> {
        let start = self.prefix.len() + MARKER.len() + 1;
        let tag = std::str::from_utf8(key.get(start..start + 3)?).ok()?;
        let bucket = u16::from_str_radix(tag, 16).ok()?;
        if format!("{bucket:03x}") != tag {
            return None;
        }
        self.generations
            .get(usize::from(bucket))
            .map(String::as_str)
    }
}

/// The bucket of `locator`: the top bits of its SHA-1.
fn bucket(locator: &str) -> u16 {
    let digest = sha1_smol::Sha1::from(locator.as_bytes()).digest().bytes();
    u16::from_be_bytes([digest[0], digest[1]]) % BUCKETS
}

/// `{prefix}swr:{<tag>}:`.
fn bucket_base(prefix: &str, bucket: u16) -> String {
    let mut base = String::with_capacity(prefix.len() + MARKER.len() + 7);
    base.push_str(prefix);
    base.push_str(MARKER);
    let _ = write!(base, "{{{bucket:03x}}}:");
    base
}

/// `prefix` as a literal in a `SCAN MATCH` pattern.
fn glob_escape(prefix: &str) -> String {
    let mut escaped = String::with_capacity(prefix.len());
    for c in prefix.chars() {
        if matches!(c, '*' | '?' | '[' | ']' | '\\') {
            escaped.push('\\');
        }
        escaped.push(c);
    }
    escaped
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The hash slot of a key, as Redis Cluster computes it (CRC16/XMODEM of the
    /// hash tag, or of the whole key without one).
    fn slot(key: &str) -> u16 {
        let bytes = key.as_bytes();
        let hashed = match bytes.iter().position(|&b| b == b'{') {
            Some(open) => match bytes[open + 1..].iter().position(|&b| b == b'}') {
                Some(0) | None => bytes,
                Some(len) => &bytes[open + 1..open + 1 + len],
            },
            None => bytes,
        };
        let mut crc: u16 = 0;
        for &byte in hashed {
            crc ^= u16::from(byte) << 8;
            for _ in 0..8 {
                crc = if crc & 0x8000 != 0 {
                    (crc << 1) ^ 0x1021
                } else {
                    crc << 1
                };
            }
        }
        crc % 16384
    }

    #[test]
    fn one_slot_per_locator_whatever_braces_it_or_the_prefix_holds() {
        for prefix in ["", "myapp:", "{app}:", "a{b:", "x}y:"] {
            let keys = Keys::new(prefix);
            for locator in ["things/1", "}", "{", "{}", "a}b{c", "{x}"] {
                let LocatorKeys { generation, entry } = keys.locator(locator);
                let lock = keys.refresh_lock(locator);
                assert_eq!(slot(&entry), slot(&lock), "{prefix:?} {locator:?}");
                assert_eq!(slot(&entry), slot(&generation), "{prefix:?} {locator:?}");
                assert_eq!(slot(&entry), slot(&keys.miss_lock(locator)));
                assert!(entry.starts_with(&format!("{prefix}swr:")));
                assert_eq!(
                    keys.generation_of_entry(entry.as_bytes()),
                    Some(&*generation)
                );
                assert!(keys.generations().contains(&generation));
            }
        }
        let keys = Keys::new("myapp:");
        let slots: std::collections::HashSet<u16> = (0..64)
            .map(|i| slot(&keys.refresh_lock(&format!("things/{i}"))))
            .collect();
        assert!(slots.len() > 32, "locators spread over slots: {slots:?}");
        let buckets: std::collections::HashSet<u16> =
            keys.generations().iter().map(|key| slot(key)).collect();
        assert!(
            buckets.len() > 900,
            "buckets spread over slots: {}",
            buckets.len()
        );
    }

    #[test]
    fn the_sweep_pattern_matches_entries_only() {
        let keys = Keys::new("my*app:");
        assert_eq!(keys.entry_pattern(), "my\\*app:swr:\\{???\\}:e:*");
        assert_eq!(keys.generation_of_entry(b"my*app:swr:{3FF}:e:x"), None);
        assert_eq!(
            keys.generation_of_entry(b"my*app:swr:{3ff}:e:x"),
            Some("my*app:swr:{3ff}:gen")
        );
        assert_eq!(keys.generation_of_entry(b"my*app:swr:{400}:e:x"), None);
    }
}
