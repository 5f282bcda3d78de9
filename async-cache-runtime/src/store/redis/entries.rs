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

use tokio::time::Instant;

use super::{Shared, backplane, codec};

use crate::store::sealed::WriteOptions;
use crate::store::{Record, StillValid, StoreError};

/// What `invalidate` (remove) and `expire` (mark) do to an entry.
#[derive(Clone, Copy)]
enum Forget {
    Remove,
    Mark,
}

/// What a read of Redis finds: a record, nothing usable, or a fault.
type Read<V, T> = Result<Option<Stored<V, T>>, StoreError>;

/// A record as found in Redis, with its standing when it was read, on this
/// process's clock.
pub(super) struct Stored<V, T> {
    pub(super) record: Arc<Record<V, T>>,
    /// Past its writer's `expires_in`: kept only as a fail-safe fallback.
    pub(super) expired: bool,
    /// Marked outdated by `expire`.
    pub(super) marked: bool,
    /// When it expires, on this process's clock.
    pub(super) expires_at: Option<Instant>,
    /// For a record this process just wrote, the tick its generation began at.
    pub(super) since: Option<u64>,
}

impl<V, T> Stored<V, T> {
    /// What `decoded` is when Redis's clock reads `clock.now_us`: its age is
    /// measured on Redis's clock alone and mapped onto this process's, as written
    /// `age` before the read was sent, so every process sees one record equally old.
    /// Sent, not answered: an age is then read up to one round trip older than it
    /// is, never younger, so that a write decided on it (the newer-make rule: was
    /// the stored record written before this generation began?) errs towards the
    /// newer make, and a `put` right after another one's is stored. `None` when it
    /// is past its fallback window (Redis is about to drop it) or was never
    /// stamped.
    fn at(decoded: codec::Decoded<V, T>, clock: Clock) -> Option<Self> {
        let Clock { now_us, sent_at } = clock;
        if decoded.written_us == 0 {
            return None;
        }
        let age = Duration::from_micros(now_us.saturating_sub(decoded.written_us));
        let expired = decoded.expires_in.is_some_and(|ttl| age >= ttl);
        if expired {
            let past = age - decoded.expires_in.unwrap_or_default();
            if decoded.fail_safe.is_none_or(|max| past >= max) {
                return None;
            }
        }
        let written_at = sent_at.checked_sub(age)?;
        Some(Stored {
            expires_at: decoded
                .expires_in
                .and_then(|ttl| written_at.checked_add(ttl)),
            record: Arc::new(Record::made_earlier(
                decoded.version,
                decoded.value,
                decoded.fingerprint,
                written_at,
            )),
            expired,
            marked: decoded.marked,
            since: None,
        })
    }
}

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

/// Redis's clock as a read found it, and this process's when the read was sent.
#[derive(Clone, Copy)]
struct Clock {
    now_us: u64,
    sent_at: Instant,
}

/// What the read script found under a locator.
enum Raw {
    Absent,
    /// Longer than `max_value_bytes`: its bytes were not sent.
    TooLarge(i64),
    Bytes(Vec<u8>),
}

/// The `PX` of a write with `expires_in`: `0` for none.
/// Rounded up: the key outlives the fallback window rather than cut it short.
fn px(expires_in: Option<Duration>) -> u64 {
    let ms = |ttl: Duration| u64::try_from(ttl.as_micros().div_ceil(1000)).unwrap_or(u64::MAX);
    match expires_in.map(ms) {
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
        let (_, raw, clock) = self.fetch_raw(locator).await?;
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
        let Some(stored) =
            decode_logged::<V, T>(locator, &bytes).and_then(|decoded| Stored::at(decoded, clock))
        else {
            return Ok(None);
        };
        if let Err(error) = self.register_build(stored.record.fingerprint).await {
            tracing::debug!(%error, locator, "the record's build is not looked up yet");
        }
        if let Some(near) = &self.near {
            near.offer(locator, &stored, near_epoch, || {
                removals == self.entries.removals.load(SeqCst)
            });
        }
        Ok(Some(stored))
    }

    /// The no-downgrade rule across builds and makes: whether `new`, whose
    /// generation began at the tick `since`, may replace `stored` (contract §6.1,
    /// §6.6, crate docs). An expired record gives way to any write, as in memory.
    async fn replaces<V: Ord, T>(
        self: &Arc<Self>,
        new: &Record<V, T>,
        stored: &Stored<V, T>,
        since: Option<u64>,
    ) -> Result<bool, StoreError> {
        if stored.expired {
            return Ok(true);
        }
        let stored = &stored.record;
        Ok(match new.version.cmp(&stored.version) {
            Ordering::Greater => true,
            Ordering::Less => false,
            // A newer make replaces an older one of the same build only: an older
            // build's make never replaces a newer build's record (the builds do not
            // fight, contract §5).
            Ordering::Equal if stored.fingerprint == new.fingerprint => {
                since.is_some_and(|since| stored.made < since)
            }
            Ordering::Equal => {
                !self
                    .build_is_current_now(stored.fingerprint, new.fingerprint)
                    .await?
            }
        })
    }

    /// Writes `record` with the writing call's `expires_in` and `fail_safe`: the
    /// key's `PX` is their sum, so Redis keeps the fallback exactly as long and no
    /// longer. Says whether it was stored.
    pub(super) async fn write<V, T>(
        self: &Arc<Self>,
        locator: &str,
        record: &Arc<Record<V, T>>,
        options: WriteOptions,
        still_valid: StillValid<'_>,
    ) -> Result<bool, StoreError>
    where
        V: Ord + Serialize + DeserializeOwned + Send + Sync + 'static,
        T: Serialize + DeserializeOwned + Send + Sync + 'static,
    {
        let max_value_bytes = self.entries.max_value_bytes;
        let bytes = codec::encode(&**record, options.expires_in, options.fail_safe)
            .map_err(|error| StoreError(format!("the value does not serialize: {error}")))?;
        if bytes.len() > max_value_bytes {
            tracing::warn!(
                locator,
                bytes = bytes.len(),
                max_value_bytes,
                "value too large for the shared tier: served, not stored"
            );
            return Ok(false);
        }
        let bytes: Arc<[u8]> = bytes.into();
        let px = px(options
            .expires_in
            .map(|ttl| ttl.saturating_add(options.fail_safe.unwrap_or_default())));
        let version_bytes = rmp_serde::to_vec(&record.version)
            .map_err(|error| StoreError(format!("the version does not serialize: {error}")))?;
        self.backplane_ready().await;
        let removals = self.entries.removals.load(SeqCst);
        let near_epoch = self.near.as_ref().map_or(0, |near| near.epoch());
        self.sync_clear().await?;
        self.sync_pending(locator).await?;
        self.register_build(record.fingerprint).await?;
        for _ in 0..CAS_ATTEMPTS {
            let (generation, current, clock) = self.fetch_raw(locator).await?;
            if !still_valid() {
                return Ok(false); // invalidated since the generation began
            }
            let expected = match &current {
                Raw::Absent => String::new(),
                Raw::TooLarge(_) => ">".to_owned(),
                Raw::Bytes(current) => {
                    let stored = codec::decode::<V, T>(current)
                        .ok()
                        .and_then(|decoded| Stored::at(decoded, clock));
                    if let Some(stored) = stored {
                        if !self.replaces(record, &stored, options.since).await? {
                            // As new already: keep it, and remember it here.
                            if let Some(near) = &self.near {
                                near.offer(locator, &stored, near_epoch, || {
                                    removals == self.entries.removals.load(SeqCst)
                                });
                            }
                            return Ok(false);
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
                        .arg(codec::STAMP_AT)
                        .invoke_async::<i64>(&mut conn)
                        .await
                })
                .await?;
            match written {
                1.. => {
                    if !still_valid() {
                        // An invalidate came while the write was on its way: its
                        // removal may have reached Redis first.
                        let stored = match u64::try_from(written) {
                            Ok(stamp) if stamp > 1 => codec::stamped(&bytes, stamp),
                            _ => bytes.to_vec(),
                        };
                        self.undo_write(locator, generation, &stored).await;
                        return Ok(false);
                    }
                    if let Some(near) = &self.near {
                        let written = Stored {
                            record: record.clone(),
                            expired: false,
                            marked: false,
                            expires_at: options
                                .expires_in
                                .and_then(|ttl| record.written_at().checked_add(ttl)),
                            since: options.since,
                        };
                        near.offer(locator, &written, near_epoch, || {
                            still_valid() && removals == self.entries.removals.load(SeqCst)
                        });
                    }
                    return Ok(true);
                }
                -1 => return Ok(false), // an invalidate_all came first
                _ => {}                 // the entry changed meanwhile: decide again
            }
        }
        tracing::debug!(
            locator,
            "write given up: other writers kept changing the entry"
        );
        Ok(false)
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
        self.forget(locator, Forget::Remove).await
    }

    /// `expire`: marks the entry outdated in Redis, where it stays a fallback until
    /// its own expiry plus its fail-safe window (contract §6.6, crate docs), and
    /// here; made while Redis cannot be told, kept and applied once it answers, like
    /// a removal.
    pub(super) async fn expire(self: Arc<Self>, locator: String) -> Result<(), StoreError> {
        self.forget(locator, Forget::Mark).await
    }

    async fn forget(self: Arc<Self>, locator: String, how: Forget) -> Result<(), StoreError> {
        self.backplane_ready().await;
        // This process forgets the entry first: a read or write that began before
        // does not put it back into the near cache (nor an unmarked copy of it).
        self.forget_near(&locator, how);
        let result = async {
            self.sync_clear().await?;
            match how {
                Forget::Remove => self.remove_in_redis(&locator).await,
                Forget::Mark => {
                    self.sync_pending(&locator).await?;
                    self.mark_in_redis(&locator).await
                }
            }
        }
        .await;
        if result.is_err() {
            // Kept, and applied once Redis answers: until then this process's reads
            // and writes of the locator fail rather than see the entry.
            match how {
                Forget::Remove => self.pend_removal(&locator),
                Forget::Mark => self.pend_expire(&locator),
            }
        }
        // Again after the round trip: a read that was under way meanwhile may have
        // offered what it found just before the removal or mark landed.
        self.forget_near(&locator, how);
        result
    }

    fn forget_near(&self, locator: &str, how: Forget) {
        self.entries.removals.fetch_add(1, SeqCst);
        if let Some(near) = &self.near {
            match how {
                Forget::Remove => near.remove(locator),
                Forget::Mark => near.mark(locator),
            }
        }
    }

    /// The mark script, nothing else.
    pub(super) async fn mark_in_redis(self: &Arc<Self>, locator: &str) -> Result<(), StoreError> {
        let script = self.clone();
        let keys = self.keys.locator(locator);
        let event = self.backplane.event(backplane::EXPIRE, locator);
        self.link
            .run(move |mut conn| async move {
                script
                    .scripts
                    .mark
                    .key(&keys.generation)
                    .key(&keys.entry)
                    .arg(&[codec::FORMAT][..])
                    .arg(codec::MARK_AT)
                    .arg(script.backplane.channel())
                    .arg(&event)
                    .invoke_async::<i64>(&mut conn)
                    .await
            })
            .await
            .map(drop)
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

    /// The generation, what is stored under `locator`, and the clocks of the read.
    async fn fetch_raw(
        self: &Arc<Self>,
        locator: &str,
    ) -> Result<(String, Raw, Clock), StoreError> {
        let script = self.clone();
        let keys = self.keys.locator(locator);
        let max_value_bytes = self.entries.max_value_bytes;
        let sent_at = Instant::now();
        let (generation, bytes, length, now_us) = self
            .link
            .run(move |mut conn| async move {
                script
                    .scripts
                    .read
                    .key(&keys.generation)
                    .key(&keys.entry)
                    .arg(max_value_bytes)
                    .invoke_async::<(String, Option<Vec<u8>>, i64, String)>(&mut conn)
                    .await
            })
            .await?;
        let raw = match bytes {
            Some(bytes) => Raw::Bytes(bytes),
            None if length > 0 => Raw::TooLarge(length),
            None => Raw::Absent,
        };
        let now_us = now_us
            .parse()
            .map_err(|_| StoreError(format!("Redis's clock reads {now_us:?}")))?;
        Ok((generation, raw, Clock { now_us, sent_at }))
    }
}

fn decode_logged<V, T>(locator: &str, bytes: &[u8]) -> Option<codec::Decoded<V, T>>
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
