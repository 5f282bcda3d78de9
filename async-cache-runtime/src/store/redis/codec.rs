//! The bytes of a record in Redis.
//!
//! ```text
//! [tag: u8 = FORMAT][types: u64 LE][fingerprint: u64 LE][MessagePack of (version, value)]
//! ```
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

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::store::Record;

/// Version 1 of the layout above, MessagePack body.
pub(crate) const FORMAT: u8 = 0xA1;
const HEADER: usize = 1 + 8 + 8;

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

pub(crate) fn encode<V: Serialize, T: Serialize>(
    record: &Record<V, T>,
) -> Result<Vec<u8>, rmp_serde::encode::Error> {
    let mut bytes = Vec::with_capacity(64);
    bytes.push(FORMAT);
    bytes.extend_from_slice(&types_hash::<V, T>().to_le_bytes());
    bytes.extend_from_slice(&record.fingerprint.to_le_bytes());
    rmp_serde::encode::write(&mut bytes, &(&record.version, &record.value))?;
    Ok(bytes)
}

pub(crate) fn decode<V: DeserializeOwned, T: DeserializeOwned>(
    bytes: &[u8],
) -> Result<Record<V, T>, DecodeError> {
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
    let mut body = &bytes[HEADER..];
    let (version, value) = rmp_serde::decode::from_read::<_, (V, T)>(&mut body)
        .map_err(|error| DecodeError::Body(error.to_string()))?;
    if !body.is_empty() {
        return Err(DecodeError::Body(format!("{} bytes left over", body.len())));
    }
    Ok(Record::new(version, value, fingerprint))
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
        let bytes = encode(&record).unwrap();
        assert_eq!(bytes[0], FORMAT);
        let back: Record<u64, Thing> = decode(&bytes).unwrap();
        assert_eq!((back.version, back.fingerprint), (record.version, 0xfeed));
        assert_eq!(back.value, record.value);
    }

    #[test]
    fn rejects_what_is_not_ours() {
        let record = Record::new(1_u64, "v".to_string(), 0);
        let bytes = encode(&record).unwrap();
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
        let back: Record<u64, Vec<Loose>> = decode(&encode(&record).unwrap()).unwrap();
        assert_eq!(back.value, record.value);
        assert!(
            postcard::from_bytes::<Vec<Loose>>(&postcard::to_allocvec(&record.value).unwrap())
                .is_err()
        );
    }
}
