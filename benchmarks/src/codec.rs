//! The shared tier's record format against the most compact serde format: MessagePack
//! (`rmp-serde`, structs as arrays, written and read as the Redis store does) against
//! `postcard`, on a 1.2 KiB record of strings, a vector and a map. Size, encode and
//! decode time; the store's own header (format byte, types hash, fingerprint) is the
//! same for any body format and left out.
//!
//! Why MessagePack despite this table: it is self-describing, so every serde type
//! round-trips (`serde_json::Value`, untagged enums, `#[serde(flatten)]`), which
//! postcard cannot decode.

use std::collections::BTreeMap;
use std::hint::black_box;
use std::time::Instant;

use serde::{Deserialize, Serialize};

/// The record: what a rendered page's data looks like.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Thing {
    pub id: u64,
    pub name: String,
    pub tags: Vec<String>,
    pub scores: BTreeMap<String, f64>,
    pub body: String,
}

/// The version stored beside the value, as a timestamp-like `u64`.
pub const VERSION: u64 = 20151210063911;

/// A 1.2 KiB thing.
pub fn thing() -> Thing {
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

/// The two formats compared.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// `rmp_serde::encode::write` / `rmp_serde::decode::from_read` of `(version, value)`.
    MessagePack,
    /// `postcard::to_allocvec` / `postcard::from_bytes` of `(version, value)`.
    Postcard,
}

impl Format {
    pub const ALL: [Format; 2] = [Format::MessagePack, Format::Postcard];

    pub fn name(self) -> &'static str {
        match self {
            Format::MessagePack => "rmp-serde (MessagePack)",
            Format::Postcard => "postcard",
        }
    }

    pub fn id(self) -> &'static str {
        match self {
            Format::MessagePack => "rmp_serde",
            Format::Postcard => "postcard",
        }
    }

    pub fn encode(self, thing: &Thing) -> Vec<u8> {
        let pair = (&VERSION, thing);
        match self {
            Format::MessagePack => {
                let mut bytes = Vec::with_capacity(64);
                rmp_serde::encode::write(&mut bytes, &pair).expect("MessagePack encodes a Thing");
                bytes
            }
            Format::Postcard => postcard::to_allocvec(&pair).expect("postcard encodes a Thing"),
        }
    }

    pub fn decode(self, mut bytes: &[u8]) -> (u64, Thing) {
        match self {
            Format::MessagePack => rmp_serde::decode::from_read(&mut bytes)
                .expect("MessagePack decodes what it encoded"),
            Format::Postcard => {
                postcard::from_bytes(bytes).expect("postcard decodes what it encoded")
            }
        }
    }
}

/// One format's figures: encoded size and the median over rounds of ns per operation.
#[derive(Clone, Copy, Debug)]
pub struct Figures {
    pub bytes: usize,
    pub encode_ns: f64,
    pub decode_ns: f64,
}

/// Both formats in interleaved rounds of `ops` encodes and `ops` decodes each.
pub fn measure(rounds: usize, ops: u32) -> [Figures; 2] {
    let thing = thing();
    let encoded = Format::ALL.map(|f| f.encode(&thing));
    for (format, bytes) in Format::ALL.iter().zip(&encoded) {
        assert_eq!(format.decode(bytes), (VERSION, thing.clone()), "round trip");
    }
    let mut encode = [Vec::new(), Vec::new()];
    let mut decode = [Vec::new(), Vec::new()];
    // Round 0 warms up and is not kept.
    for round in 0..=rounds {
        for (i, format) in Format::ALL.into_iter().enumerate() {
            let start = Instant::now();
            for _ in 0..ops {
                black_box(format.encode(black_box(&thing)));
            }
            let e = start.elapsed().as_nanos() as f64 / f64::from(ops);
            let start = Instant::now();
            for _ in 0..ops {
                black_box(format.decode(black_box(&encoded[i])));
            }
            let d = start.elapsed().as_nanos() as f64 / f64::from(ops);
            if round > 0 {
                encode[i].push(e);
                decode[i].push(d);
            }
        }
    }
    [0, 1].map(|i| Figures {
        bytes: encoded[i].len(),
        encode_ns: crate::median(&mut encode[i]),
        decode_ns: crate::median(&mut decode[i]),
    })
}
