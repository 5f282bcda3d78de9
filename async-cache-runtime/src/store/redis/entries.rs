//! Reads and writes of entries: the read script, the compare-and-set write under the
//! no-downgrade rule, and removal.
//!
//! No lock of this process is held across a round trip: concurrent writes of one
//! locator are ordered by the compare-and-set alone, and a write that an `invalidate`
//! of this process overtakes undoes itself, so each caller waits for its own round
//! trips only, each bounded by the command timeout.

use std::cmp::Ordering;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::SeqCst};
use std::time::Duration;

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::link::duration_ms;
use super::{Shared, backplane, codec};
use crate::store::{Record, StillValid, StoreError};

/// What a read of Redis finds: a record, nothing usable, or a fault.
type Read<V, T> = Result<Option<Arc<Record<V, T>>>, StoreError>;

/// Compare-and-set attempts of one write before it gives up (other writers keep
/// changing the entry: the newest of them stays).
const CAS_ATTEMPTS: usize = 4;
/// Expiries longer than this many milliseconds (millions of years) are no expiry:
/// Redis refuses a `PX` that overflows its clock, and the memory store treats an
/// expiry past what its clock can hold as none.
const LONGEST_PX: u64 = 1 << 52;

pub(super) struct Entries {
    /// Bumped by `remove` and by the backplane's events: a read that began before
    /// does not fill the near cache.
    pub(super) removals: AtomicU64,
    pub(super) max_value_bytes: usize,
}

impl Entries {
    pub(super) fn new(max_value_bytes: usize) -> Self {
        Entries {
            removals: AtomicU64::new(0),
            max_value_bytes,
        }
    }
}

/// What the read script found under a locator.
enum Raw {
    Absent,
    /// Longer than `max_value_bytes`: its bytes were not sent.
    TooLarge(i64),
    Bytes(Vec<u8>),
}

/// The `PX` of a write with `expires_in`: `0` for none.
fn px(expires_in: Option<Duration>) -> u64 {
    match expires_in.map(duration_ms) {
        Some(ms) if ms <= LONGEST_PX => ms.max(1),
        _ => 0,
    }
}

impl Shared {
    pub(super) async fn read<V, T>(self: &Arc<Self>, locator: &str) -> Read<V, T>
    where
        V: Ord + DeserializeOwned + Send + Sync + 'static,
        T: DeserializeOwned + Send + Sync + 'static,
    {
        // First: the subscription, once in place, clears the near cache, which would
        // refuse what this read offers if its epoch were taken before.
        self.backplane_ready().await;
        let near_epoch = self.near.as_ref().map_or(0, |near| near.epoch());
        let removals = self.entries.removals.load(SeqCst);
        self.sync_clear().await?;
        self.sync_pending(locator).await?;
        let (_, raw, pttl) = self.fetch_raw(locator).await?;
        let bytes = match raw {
            Raw::Absent => return Ok(None),
            Raw::TooLarge(length) => {
                tracing::debug!(
                    locator,
                    bytes = length,
                    max_value_bytes = self.entries.max_value_bytes,
                    "entry in Redis larger than max_value_bytes: treated as a miss"
                );
                return Ok(None);
            }
            Raw::Bytes(bytes) => bytes,
        };
        let Some(record) = decode_logged::<V, T>(locator, &bytes) else {
            return Ok(None);
        };
        if let Err(error) = self.register_build(record.fingerprint).await {
            tracing::debug!(%error, locator, "the record's build is not looked up yet");
        }
        let record = Arc::new(record);
        if let Some(near) = &self.near {
            near.offer(locator, &record, near_epoch, pttl, || {
                removals == self.entries.removals.load(SeqCst)
            });
        }
        Ok(Some(record))
    }

    /// The no-downgrade rule across builds: whether `new` may replace `stored`.
    async fn replaces<V: Ord, T>(
        self: &Arc<Self>,
        new: &Record<V, T>,
        stored: &Record<V, T>,
    ) -> Result<bool, StoreError> {
        Ok(match new.version.cmp(&stored.version) {
            Ordering::Greater => true,
            Ordering::Less => false,
            Ordering::Equal => {
                !self
                    .build_is_current_now(stored.fingerprint, new.fingerprint)
                    .await?
            }
        })
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
        let max_value_bytes = self.entries.max_value_bytes;
        let bytes = codec::encode(&**record)
            .map_err(|error| StoreError(format!("the value does not serialize: {error}")))?;
        if bytes.len() > max_value_bytes {
            tracing::warn!(
                locator,
                bytes = bytes.len(),
                max_value_bytes,
                "value too large for the shared tier: served, not stored"
            );
            return Ok(());
        }
        let bytes: Arc<[u8]> = bytes.into();
        let px = px(expires_in);
        let version_bytes = rmp_serde::to_vec(&record.version)
            .map_err(|error| StoreError(format!("the version does not serialize: {error}")))?;
        self.backplane_ready().await;
        let removals = self.entries.removals.load(SeqCst);
        let near_epoch = self.near.as_ref().map_or(0, |near| near.epoch());
        self.sync_clear().await?;
        self.sync_pending(locator).await?;
        self.register_build(record.fingerprint).await?;
        for _ in 0..CAS_ATTEMPTS {
            let (generation, current, pttl) = self.fetch_raw(locator).await?;
            if !still_valid() {
                return Ok(()); // invalidated since the generation began
            }
            let expected = match &current {
                Raw::Absent => String::new(),
                Raw::TooLarge(_) => ">".to_owned(),
                Raw::Bytes(current) => {
                    if let Ok(stored) = codec::decode::<V, T>(current) {
                        if !self.replaces(record, &stored).await? {
                            // As new already: keep it, and remember it here.
                            if let Some(near) = &self.near {
                                near.offer(locator, &Arc::new(stored), near_epoch, pttl, || {
                                    removals == self.entries.removals.load(SeqCst)
                                });
                            }
                            return Ok(());
                        }
                    }
                    sha1_smol::Sha1::from(current).digest().to_string()
                }
            };
            let script = self.clone();
            let keys = self.keys.locator(locator);
            let value = bytes.clone();
            let cas_generation = generation.clone();
            let event = self.backplane.write_event(locator, &version_bytes);
            let written = self
                .link
                .run(move |mut conn| async move {
                    script
                        .scripts
                        .compare_and_set
                        .key(&keys.generation)
                        .key(&keys.entry)
                        .arg(&cas_generation)
                        .arg(&expected)
                        .arg(&*value)
                        .arg(px)
                        .arg(max_value_bytes)
                        .arg(script.backplane.channel())
                        .arg(&event)
                        .invoke_async::<i64>(&mut conn)
                        .await
                })
                .await?;
            match written {
                1 => {
                    if !still_valid() {
                        // An invalidate came while the write was on its way: its
                        // removal may have reached Redis first.
                        self.undo_write(locator, generation, &bytes).await;
                        return Ok(());
                    }
                    if let Some(near) = &self.near {
                        let pttl = if px == 0 {
                            -1
                        } else {
                            i64::try_from(px).unwrap_or(-1)
                        };
                        near.offer(locator, record, near_epoch, pttl, || {
                            still_valid() && removals == self.entries.removals.load(SeqCst)
                        });
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

    /// Deletes what this write stored, if it is still there; if Redis cannot be
    /// told, the locator's removal is kept for later.
    async fn undo_write(self: &Arc<Self>, locator: &str, generation: String, bytes: &[u8]) {
        let script = self.clone();
        let keys = self.keys.locator(locator);
        let sha1 = sha1_smol::Sha1::from(bytes).digest().to_string();
        let event = self.backplane.event(backplane::REMOVE, locator);
        let undone = self
            .link
            .run(move |mut conn| async move {
                script
                    .scripts
                    .delete_if
                    .key(&keys.generation)
                    .key(&keys.entry)
                    .arg(&generation)
                    .arg(&sha1)
                    .arg(script.backplane.channel())
                    .arg(&event)
                    .invoke_async::<i64>(&mut conn)
                    .await
            })
            .await;
        if undone.is_err() {
            self.pend_removal(locator);
        }
    }

    pub(super) async fn remove(self: Arc<Self>, locator: String) -> Result<(), StoreError> {
        self.backplane_ready().await;
        // This process forgets the entry first: a read or write that began before
        // does not put it back into the near cache.
        self.entries.removals.fetch_add(1, SeqCst);
        if let Some(near) = &self.near {
            near.remove(&locator);
        }
        let result = async {
            self.sync_clear().await?;
            self.remove_in_redis(&locator).await
        }
        .await;
        if result.is_err() {
            // Kept, and applied once Redis answers: until then this process's reads
            // and writes of the locator fail rather than see the entry.
            self.pend_removal(&locator);
        }
        // Again after the round trip: a read that was under way meanwhile may have
        // offered what it found just before the removal landed.
        self.entries.removals.fetch_add(1, SeqCst);
        if let Some(near) = &self.near {
            near.remove(&locator);
        }
        result
    }

    /// The removal script, nothing else.
    pub(super) async fn remove_in_redis(self: &Arc<Self>, locator: &str) -> Result<(), StoreError> {
        let script = self.clone();
        let key = self.keys.locator(locator).entry;
        let event = self.backplane.event(backplane::REMOVE, locator);
        self.link
            .run(move |mut conn| async move {
                script
                    .scripts
                    .remove
                    .key(&key)
                    .arg(script.backplane.channel())
                    .arg(&event)
                    .invoke_async::<i64>(&mut conn)
                    .await
            })
            .await
            .map(drop)
    }

    /// The generation, what is stored under `locator` and its remaining time to live
    /// in ms (negative: none).
    async fn fetch_raw(self: &Arc<Self>, locator: &str) -> Result<(String, Raw, i64), StoreError> {
        let script = self.clone();
        let keys = self.keys.locator(locator);
        let max_value_bytes = self.entries.max_value_bytes;
        let (generation, bytes, pttl, length) = self
            .link
            .run(move |mut conn| async move {
                script
                    .scripts
                    .read
                    .key(&keys.generation)
                    .key(&keys.entry)
                    .arg(max_value_bytes)
                    .invoke_async::<(String, Option<Vec<u8>>, i64, i64)>(&mut conn)
                    .await
            })
            .await?;
        let raw = match bytes {
            Some(bytes) => Raw::Bytes(bytes),
            None if length > 0 => Raw::TooLarge(length),
            None => Raw::Absent,
        };
        Ok((generation, raw, pttl))
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
