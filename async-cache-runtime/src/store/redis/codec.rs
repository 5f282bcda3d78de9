//! The bytes of a record in Redis.
//!
//! ```text
//! [tag: u8 = FORMAT][types: u64 LE][fingerprint: u64 LE]
//! [written: 16 ASCII digits][expires_in: u64 LE][fail_safe: u64 LE][mark: u8]
//! [MessagePack of (version, value)]
//! ```
//!
//! `written` is when the value landed, in microseconds of Redis's clock: the write
//! script stamps it there (its own `TIME`), so ages hold across processes whatever
//! their clocks say; the encoder leaves zeros. `expires_in` and `fail_safe` are the
//! writing call's, in microseconds (`u64::MAX`: none): whose options they are is the
//! writer's (contract §6, crate docs). `mark` is 1 once `expire` marked the record
//! outdated; the mark script sets it in place.
//!
//! `types` hashes the Rust names of the version and value types, so an entry written
//! for other types is a miss even where its bytes would happen to decode. The tag
//! names the layout and the serde format: bytes with another tag, a short header,
//! a body that does not decode or trailing bytes are all "not a record of ours".
//!
//! MessagePack (`rmp-serde`, structs as arrays) rather than postcard or bincode: it
//! is nearly as compact and fast (the benchmarks measure both side by side), and it
//! is self-describing, so every serde type round-trips, including those that need
//! `deserialize_any` (`serde_json::Value`, untagged or internally tagged enums,
//! `#[serde(flatten)]`), which postcard and bincode cannot decode: with them such a
//! value would be an eternal miss.

use std::fmt;
use std::time::Duration;

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::store::Record;

/// Version 2 of the layout above, MessagePack body (version 1 had no time fields:
/// its records are misses, replaced by the next write).
pub(crate) const FORMAT: u8 = 0xA2;
/// Where the write script stamps `written`, and how many digits it writes.
pub(crate) const STAMP_AT: usize = 1 + 8 + 8;
const STAMP_LEN: usize = 16;
/// Where the mark script sets `mark`.
pub(crate) const MARK_AT: usize = STAMP_AT + STAMP_LEN + 8 + 8;
const HEADER: usize = MARK_AT + 1;
/// A duration field that holds none.
const NONE: u64 = u64::MAX;

/// A record as stored, with the time fields of its header.
pub(crate) struct Decoded<V, T> {
    pub(crate) version: V,
    pub(crate) value: T,
    pub(crate) fingerprint: u64,
    /// When it landed, in microseconds of Redis's clock.
    pub(crate) written_us: u64,
    pub(crate) expires_in: Option<Duration>,
    pub(crate) fail_safe: Option<Duration>,
    pub(crate) marked: bool,
}

fn micros(duration: Option<Duration>) -> u64 {
    duration.map_or(NONE, |d| u64::try_from(d.as_micros()).unwrap_or(NONE))
}

fn duration(micros: u64) -> Option<Duration> {
    (micros != NONE).then(|| Duration::from_micros(micros))
}

/// `bytes` as the write script stores them when its clock reads `written_us`.
pub(crate) fn stamped(bytes: &[u8], written_us: u64) -> Vec<u8> {
    let mut stamped = bytes.to_vec();
    if stamped.len() >= HEADER {
        stamped[STAMP_AT..STAMP_AT + STAMP_LEN]
            .copy_from_slice(format!("{written_us:016}").as_bytes());
    }
    stamped
}

/// Why stored bytes are not a record of the caller's types.
#[derive(Debug)]
pub(crate) enum DecodeError {
    /// Shorter than the header, or another layout or format.
    Format,
    /// Written for other version or value types.
    Types,
    /// The body does not decode, or leaves bytes over.
    Body(String),
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DecodeError::Format => f.write_str("not a record of this format"),
            DecodeError::Types => f.write_str("a record of other value or version types"),
            DecodeError::Body(error) => write!(f, "the record does not decode: {error}"),
        }
    }
}

/// A hash of the type names, stable across processes and runs (unlike the std
/// hashers' random keys): the first 8 bytes of their SHA-1. `type_name` may change
/// with the compiler version; builds that disagree then see each other's entries as
/// misses, and overwrite them.
pub(crate) fn types_hash<V, T>() -> u64 {
    let mut sha1 = sha1_smol::Sha1::new();
    sha1.update(std::any::type_name::<V>().as_bytes());
    sha1.update(b"\0");
    sha1.update(std::any::type_name::<T>().as_bytes());
    let digest = sha1.digest().bytes();
    let mut word = [0; 8];
    word.copy_from_slice(&digest[..8]);
    u64::from_le_bytes(word)
}

/// The bytes of `record` written with `expires_in` and `fail_safe`, unstamped.
pub(crate) fn encode<V: Serialize, T: Serialize>(
    record: &Record<V, T>,
    expires_in: Option<Duration>,
    fail_safe: Option<Duration>,
) -> Result<Vec<u8>, rmp_serde::encode::Error> {
    let mut bytes = Vec::with_capacity(96);
    bytes.push(FORMAT);
    bytes.extend_from_slice(&types_hash::<V, T>().to_le_bytes());
    bytes.extend_from_slice(&record.fingerprint.to_le_bytes());
    bytes.extend_from_slice(&[b'0'; STAMP_LEN]);
    bytes.extend_from_slice(&micros(expires_in).to_le_bytes());
    bytes.extend_from_slice(&micros(fail_safe).to_le_bytes());
    bytes.push(0);
    rmp_serde::encode::write(&mut bytes, &(&record.version, &record.value))?;
    Ok(bytes)
}

pub(crate) fn decode<V: DeserializeOwned, T: DeserializeOwned>(
    bytes: &[u8],
) -> Result<Decoded<V, T>, DecodeError> {
    if bytes.len() < HEADER || bytes[0] != FORMAT {
        return Err(DecodeError::Format);
    }
    let word = |at: usize| {
        let mut word = [0; 8];
        word.copy_from_slice(&bytes[at..at + 8]);
        u64::from_le_bytes(word)
    };
    if word(1) != types_hash::<V, T>() {
        return Err(DecodeError::Types);
    }
    let fingerprint = word(9);
    let written_us = std::str::from_utf8(&bytes[STAMP_AT..STAMP_AT + STAMP_LEN])
        .ok()
        .filter(|digits| digits.bytes().all(|b| b.is_ascii_digit()))
        .and_then(|digits| digits.parse::<u64>().ok())
        .ok_or(DecodeError::Format)?;
    let expires_in = duration(word(STAMP_AT + STAMP_LEN));
    let fail_safe = duration(word(STAMP_AT + STAMP_LEN + 8));
    let marked = match bytes[MARK_AT] {
        0 => false,
        1 => true,
        _ => return Err(DecodeError::Format),
    };
    let mut body = &bytes[HEADER..];
    let (version, value) = rmp_serde::decode::from_read::<_, (V, T)>(&mut body)
        .map_err(|error| DecodeError::Body(error.to_string()))?;
    if !body.is_empty() {
        return Err(DecodeError::Body(format!("{} bytes left over", body.len())));
    }
    Ok(Decoded {
        version,
        value,
        fingerprint,
        written_us,
        expires_in,
        fail_safe,
        marked,
    })
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use serde::{Deserialize, Serialize};

    use super::*;

    #[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
    struct Thing {
        id: u64,
        name: String,
        tags: Vec<String>,
        scores: BTreeMap<String, f64>,
        body: String,
    }

    fn thing() -> Thing {
        Thing {
            id: 123,
            name: "a thing with a name".into(),
            tags: (0..8).map(|i| format!("tag-{i}")).collect(),
            scores: (0..8)
                .map(|i| (format!("k{i}"), f64::from(i) * 1.5))
                .collect(),
            body: "x".repeat(1024),
        }
    }

    #[test]
    fn round_trips_with_header() {
        let record = Record::new(20151210063911_u64, thing(), 0xfeed);
        let bytes = encode(&record, Some(Duration::from_secs(60)), None).unwrap();
        assert_eq!(bytes[0], FORMAT);
        let back: Decoded<u64, Thing> = decode(&stamped(&bytes, 1_764_000_000_123_456)).unwrap();
        assert_eq!((back.version, back.fingerprint), (record.version, 0xfeed));
        assert_eq!(back.value, record.value);
        assert_eq!(back.written_us, 1_764_000_000_123_456);
        assert_eq!(
            (back.expires_in, back.fail_safe, back.marked),
            (Some(Duration::from_secs(60)), None, false)
        );
    }

    #[test]
    fn the_mark_and_the_writers_options_are_read_back() {
        let record = Record::new(1_u64, "v".to_string(), 0);
        let fail_safe = Some(Duration::from_millis(1500));
        let mut bytes = encode(&record, None, fail_safe).unwrap();
        bytes[MARK_AT] = 1;
        let back: Decoded<u64, String> = decode(&bytes).unwrap();
        assert_eq!(
            (
                back.written_us,
                back.expires_in,
                back.fail_safe,
                back.marked
            ),
            (0, None, fail_safe, true)
        );
        bytes[MARK_AT] = 2;
        assert!(matches!(
            decode::<u64, String>(&bytes),
            Err(DecodeError::Format)
        ));
        let mut unstamped = encode(&record, None, None).unwrap();
        unstamped[STAMP_AT] = b'x';
        assert!(matches!(
            decode::<u64, String>(&unstamped),
            Err(DecodeError::Format)
        ));
    }

    #[test]
    fn rejects_what_is_not_ours() {
        let record = Record::new(1_u64, "v".to_string(), 0);
        let bytes = encode(&record, None, None).unwrap();
        assert!(matches!(
            decode::<u64, String>(b"garbage"),
            Err(DecodeError::Format)
        ));
        assert!(matches!(
            decode::<u32, String>(&bytes),
            Err(DecodeError::Types)
        ));
        let mut other_format = bytes.clone();
        other_format[0] = 0;
        assert!(matches!(
            decode::<u64, String>(&other_format),
            Err(DecodeError::Format)
        ));
        let mut truncated = bytes.clone();
        truncated.pop();
        assert!(matches!(
            decode::<u64, String>(&truncated),
            Err(DecodeError::Body(_))
        ));
        let mut longer = bytes.clone();
        longer.push(0);
        assert!(matches!(
            decode::<u64, String>(&longer),
            Err(DecodeError::Body(_))
        ));
        let mut garbled = bytes;
        for byte in &mut garbled[HEADER..] {
            *byte = 0xc1; // never used in MessagePack
        }
        assert!(matches!(
            decode::<u64, String>(&garbled),
            Err(DecodeError::Body(_))
        ));
    }

    /// Types postcard and bincode cannot decode: they need `deserialize_any`.
    #[test]
    fn self_describing_types_round_trip() {
        #[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
        #[serde(untagged)]
        enum Loose {
            Number(u64),
            Text(String),
        }
        let record = Record::new(
            1_u64,
            vec![Loose::Number(3), Loose::Text("three".into())],
            0,
        );
        let back: Decoded<u64, Vec<Loose>> = decode(&encode(&record, None, None).unwrap()).unwrap();
        assert_eq!(back.value, record.value);
        assert!(
            postcard::from_bytes::<Vec<Loose>>(&postcard::to_allocvec(&record.value).unwrap())
                .is_err()
        );
    }
}
