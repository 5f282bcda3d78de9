//! Reads and writes of entries: the read script, the compare-and-set write under the
//! no-downgrade rule, and removal.

use std::hash::BuildHasher;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::SeqCst};
use std::time::Duration;

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::link::duration_ms;
use super::{Shared, codec};
use crate::store::{Read, Record, StillValid, StoreError};

/// Compare-and-set attempts of one write before it gives up (other writers keep
/// changing the entry: the newest of them stays).
const CAS_ATTEMPTS: usize = 4;
/// Writes and removals of one locator are ordered in this process through one of
/// these locks (by hash of the locator).
const STRIPES: usize = 64;

pub(super) struct Entries {
    stripes: Box<[tokio::sync::Mutex<()>]>,
    stripe_hasher: foldhash::fast::RandomState,
    /// Bumped by `remove`: a read that began before it does not fill the near cache.
    removals: AtomicU64,
    max_value_bytes: usize,
}

impl Entries {
    pub(super) fn new(max_value_bytes: usize) -> Self {
        Entries {
            stripes: (0..STRIPES).map(|_| tokio::sync::Mutex::new(())).collect(),
            stripe_hasher: foldhash::fast::RandomState::default(),
            removals: AtomicU64::new(0),
            max_value_bytes,
        }
    }

    fn stripe(&self, locator: &str) -> &tokio::sync::Mutex<()> {
        let hash = self.stripe_hasher.hash_one(locator);
        &self.stripes[(hash % STRIPES as u64) as usize]
    }
}

impl Shared {
    pub(super) async fn read<V, T>(self: &Arc<Self>, locator: &str, near_epoch: u64) -> Read<V, T>
    where
        V: Ord + DeserializeOwned + Send + Sync + 'static,
        T: DeserializeOwned + Send + Sync + 'static,
    {
        let removals = self.entries.removals.load(SeqCst);
        self.sync_clear().await?;
        let (_, bytes, pttl) = self.fetch_raw(locator).await?;
        let Some(bytes) = bytes else {
            return Ok(None);
        };
        let Some(record) = decode_logged::<V, T>(locator, &bytes) else {
            return Ok(None);
        };
        let record = Arc::new(record);
        if let Some(near) = &self.near {
            near.offer(locator, &record, near_epoch, pttl, || {
                removals == self.entries.removals.load(SeqCst)
            });
        }
        Ok(Some(record))
    }

    pub(super) async fn write<V, T>(
        self: &Arc<Self>,
        locator: &str,
        record: &Arc<Record<V, T>>,
        expires_in: Option<Duration>,
        still_valid: StillValid<'_>,
    ) -> Result<(), StoreError>
    where
        V: Ord + Serialize + DeserializeOwned + Send + Sync + 'static,
        T: Serialize + DeserializeOwned + Send + Sync + 'static,
    {
        let bytes = codec::encode(&**record)
            .map_err(|error| StoreError(format!("the value does not serialize: {error}")))?;
        if bytes.len() > self.entries.max_value_bytes {
            tracing::warn!(
                locator,
                bytes = bytes.len(),
                max_value_bytes = self.entries.max_value_bytes,
                "value too large for the shared tier: served, not stored"
            );
            return Ok(());
        }
        let bytes: Arc<[u8]> = bytes.into();
        let px = expires_in.map_or(0, |ttl| duration_ms(ttl).max(1));
        let _stripe = self.entries.stripe(locator).lock().await;
        let near_epoch = self.near.as_ref().map_or(0, |near| near.epoch());
        self.sync_clear().await?;
        for _ in 0..CAS_ATTEMPTS {
            let (generation, current, pttl) = self.fetch_raw(locator).await?;
            if !still_valid() {
                return Ok(()); // invalidated since the generation began
            }
            let expected = match &current {
                None => String::new(),
                Some(current) => {
                    if let Ok(stored) = codec::decode::<V, T>(current) {
                        if !record.may_replace(&stored) {
                            // As new already: keep it, and remember it here.
                            if let Some(near) = &self.near {
                                near.offer(locator, &Arc::new(stored), near_epoch, pttl, || true);
                            }
                            return Ok(());
                        }
                    }
                    sha1_smol::Sha1::from(current).digest().to_string()
                }
            };
            let script = self.clone();
            let key = locator.to_owned();
            let value = bytes.clone();
            let written = self
                .link
                .run(move |mut conn| async move {
                    script
                        .scripts
                        .compare_and_set
                        .key(&script.gen_key)
                        .arg(&script.prefix)
                        .arg(&key)
                        .arg(&generation)
                        .arg(&expected)
                        .arg(&*value)
                        .arg(px)
                        .invoke_async::<i64>(&mut conn)
                        .await
                })
                .await?;
            match written {
                1 => {
                    if let Some(near) = &self.near {
                        let pttl = expires_in.map_or(-1, |_| i64::try_from(px).unwrap_or(-1));
                        near.offer(locator, record, near_epoch, pttl, || true);
                    }
                    return Ok(());
                }
                -1 => return Ok(()), // an invalidate_all came first
                _ => {}              // the entry changed meanwhile: decide again
            }
        }
        tracing::debug!(
            locator,
            "write given up: other writers kept changing the entry"
        );
        Ok(())
    }

    pub(super) async fn remove(self: Arc<Self>, locator: String) -> Result<(), StoreError> {
        let _stripe = self.entries.stripe(&locator).lock().await;
        let result = async {
            self.sync_clear().await?;
            let script = self.clone();
            let key = locator.clone();
            self.link
                .run(move |mut conn| async move {
                    script
                        .scripts
                        .remove
                        .key(&script.gen_key)
                        .arg(&script.prefix)
                        .arg(&key)
                        .invoke_async::<i64>(&mut conn)
                        .await
                })
                .await
        }
        .await;
        // Whatever Redis answered, this process forgets the entry.
        self.entries.removals.fetch_add(1, SeqCst);
        if let Some(near) = &self.near {
            near.remove(&locator);
        }
        result.map(drop)
    }

    /// The generation, the bytes under `locator` and their remaining time to live in
    /// ms (negative: none).
    async fn fetch_raw(
        self: &Arc<Self>,
        locator: &str,
    ) -> Result<(String, Option<Vec<u8>>, i64), StoreError> {
        let script = self.clone();
        let key = locator.to_owned();
        self.link
            .run(move |mut conn| async move {
                script
                    .scripts
                    .read
                    .key(&script.gen_key)
                    .arg(&script.prefix)
                    .arg(&key)
                    .invoke_async::<(String, Option<Vec<u8>>, i64)>(&mut conn)
                    .await
            })
            .await
    }
}

fn decode_logged<V, T>(locator: &str, bytes: &[u8]) -> Option<Record<V, T>>
where
    V: DeserializeOwned,
    T: DeserializeOwned,
{
    match codec::decode(bytes) {
        Ok(record) => Some(record),
        Err(codec::DecodeError::Types) => {
            tracing::debug!(
                locator,
                "entry of other value or version types: treated as a miss"
            );
            None
        }
        Err(error) => {
            tracing::warn!(locator, %error, "undecodable entry in Redis: treated as a miss");
            None
        }
    }
}
