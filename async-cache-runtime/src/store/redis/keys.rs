//! The names of every key the tier writes, all under `{prefix}swr:`, a namespace of
//! the cache's own, so that the `invalidate_all` sweep (and an operator's `SCAN`)
//! can tell the cache's keys from the application's, whatever the prefix.
//!
//! ```text
//! {prefix}swr:gen                          the generation (invalidate_all)
//! {prefix}swr:builds                       hash: fingerprint -> first seen (Redis TIME)
//! {prefix}swr:{<tag>}:e:<gen>:<locator>    an entry of generation <gen>
//! {prefix}swr:{<tag>}:lock:<locator>       the refresh lock
//! {prefix}swr:{<tag>}:miss:<locator>       the miss lock (one generation per fleet)
//! {prefix}swr:events                       the backplane's pub/sub channel
//! ```
//!
//! `<tag>` is 16 hex digits of the SHA-1 of the locator, in braces: a Redis Cluster
//! hash tag, so that every key of one locator lies in one hash slot (its scripts
//! touch one slot) while locators spread over the slots. The locator itself is not
//! the tag: it may contain `{` or `}` (an empty or cut tag would split one locator's
//! keys over slots). Everything up to the tag's `}` is the same for all keys of a
//! locator, so they share a slot even when the prefix holds braces of its own.

use std::fmt::Write as _;

/// The marker segment after the prefix.
pub(super) const MARKER: &str = "swr:";

pub(super) struct Keys {
    prefix: String,
    gen_key: String,
    builds_key: String,
}

impl Keys {
    pub(super) fn new(prefix: &str) -> Self {
        Keys {
            prefix: prefix.to_owned(),
            gen_key: format!("{prefix}{MARKER}gen"),
            builds_key: format!("{prefix}{MARKER}builds"),
        }
    }

    pub(super) fn prefix(&self) -> &str {
        &self.prefix
    }

    pub(super) fn generation(&self) -> &str {
        &self.gen_key
    }

    pub(super) fn builds(&self) -> &str {
        &self.builds_key
    }

    /// `{prefix}swr:{<tag>}:`, what every key of `locator` starts with.
    fn locator_base(&self, locator: &str) -> String {
        let digest = sha1_smol::Sha1::from(locator.as_bytes()).digest().bytes();
        let mut base = String::with_capacity(self.prefix.len() + MARKER.len() + 20);
        base.push_str(&self.prefix);
        base.push_str(MARKER);
        base.push('{');
        for byte in &digest[..8] {
            let _ = write!(base, "{byte:02x}");
        }
        base.push_str("}:");
        base
    }

    /// What the scripts append `<gen>:<locator>` to for the entry key.
    pub(super) fn entry_base(&self, locator: &str) -> String {
        let mut base = self.locator_base(locator);
        base.push_str("e:");
        base
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

    /// A `SCAN MATCH` pattern for every entry key of every generation, and nothing
    /// else (not the locks, not the generation, not the application's keys).
    pub(super) fn entry_pattern(&self) -> String {
        format!(
            "{}{MARKER}\\{{{}\\}}:e:*",
            glob_escape(&self.prefix),
            "?".repeat(16)
        )
    }

    /// The generation of a key that [`entry_pattern`](Self::entry_pattern) matched.
    pub(super) fn entry_generation(&self, key: &[u8]) -> Option<u64> {
        // prefix, marker, `{` + 16 + `}:`, `e:`
        let start = self.prefix.len() + MARKER.len() + "{0123456789abcdef}:e:".len();
        let rest = key.get(start..)?;
        let colon = rest.iter().position(|&b| b == b':')?;
        let digits = std::str::from_utf8(&rest[..colon]).ok()?;
        if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        digits.parse().ok()
    }
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
                let entry = format!("{}17:{locator}", keys.entry_base(locator));
                let lock = keys.refresh_lock(locator);
                assert_eq!(slot(&entry), slot(&lock), "{prefix:?} {locator:?}");
                assert_eq!(slot(&entry), slot(&keys.miss_lock(locator)));
                assert!(entry.starts_with(&format!("{prefix}swr:")));
                assert_eq!(keys.entry_generation(entry.as_bytes()), Some(17));
                assert_eq!(keys.entry_generation(lock.as_bytes()), None);
            }
        }
        let keys = Keys::new("myapp:");
        let slots: std::collections::HashSet<u16> = (0..64)
            .map(|i| slot(&keys.refresh_lock(&format!("things/{i}"))))
            .collect();
        assert!(slots.len() > 32, "locators spread over slots: {slots:?}");
    }
}
