//! Cross-process miss coalescing: a miss lock per locator,
//! `{prefix}swr:{<tag>}:miss:<locator>`, holding the holder's token and the version
//! it generates (MessagePack), living at most `miss_lock_timeout`.
//!
//! The caller that leads a generation in this process takes it; a process that finds
//! it held for the same or a newer version waits, polling the entry every
//! [`POLL`] (no busy loop), and is answered with the record once it lands. A holder
//! whose generation fails, panics or is cancelled drops its guard, which deletes the
//! lock at once; the next poll of a waiter then takes it over. A waiter never waits
//! past `miss_lock_timeout` from when it began, and a caller of a newer version than
//! the holder's never waits on it.

use std::sync::{Arc, Weak};
use std::time::Duration;

use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio::time::Instant;

use super::Shared;
use super::link::duration_ms;
use super::refresh_lock::random_token;
use crate::store::sealed::{MissGuard, MissLock};

/// How often a waiter looks whether the holder's record landed or its lock is gone.
const POLL: Duration = Duration::from_millis(50);

/// Deletes the miss lock when the leader is done with it (compare-and-delete: a
/// lock that lapsed and was taken by another process stays theirs).
struct Release {
    store: Weak<Shared>,
    key: String,
    value: Vec<u8>,
}

impl Drop for Release {
    fn drop(&mut self) {
        let Some(shared) = self.store.upgrade() else {
            return;
        };
        let Some(runtime) = shared.runtime() else {
            return; // it lapses by itself
        };
        let (key, value) = (
            std::mem::take(&mut self.key),
            std::mem::take(&mut self.value),
        );
        drop(runtime.spawn(async move {
            let script = shared.clone();
            let released = shared
                .link
                .run(move |mut conn| async move {
                    script
                        .scripts
                        .unlock
                        .key(&key)
                        .arg(&value)
                        .invoke_async::<i64>(&mut conn)
                        .await
                })
                .await;
            if let Err(error) = released {
                tracing::debug!(%error, "miss lock not released: it lapses by itself");
            }
        }));
    }
}

impl Shared {
    pub(super) async fn lock_miss<V, T>(
        self: &Arc<Self>,
        locator: &str,
        version: &V,
        fingerprint: u64,
    ) -> MissLock<V, T>
    where
        V: Ord + Serialize + DeserializeOwned + Send + Sync + 'static,
        T: Serialize + DeserializeOwned + Send + Sync + 'static,
    {
        let Ok(encoded) = rmp_serde::to_vec(version) else {
            return MissLock::Generate;
        };
        let key = self.keys.miss_lock(locator);
        let mut value = random_token().into_bytes();
        value.push(b':');
        value.extend_from_slice(&encoded);
        let ttl_ms = duration_ms(self.miss_lock_timeout).max(1);
        let deadline = Instant::now() + self.miss_lock_timeout;
        loop {
            let script = self.clone();
            let (take_key, take_value) = (key.clone(), value.clone());
            let holder = self
                .link
                .run(move |mut conn| async move {
                    script
                        .scripts
                        .take_miss
                        .key(&take_key)
                        .arg(&take_value)
                        .arg(ttl_ms)
                        .invoke_async::<Option<Vec<u8>>>(&mut conn)
                        .await
                })
                .await;
            let holder = match holder {
                Err(_) => return MissLock::Generate,
                Ok(None) => {
                    return MissLock::Lead(MissGuard::new(Release {
                        store: Arc::downgrade(self),
                        key,
                        value,
                    }));
                }
                Ok(Some(holder)) => holder,
            };
            // The holder's version: a caller of a newer one does not wait on it.
            let holders_version = holder
                .iter()
                .position(|&b| b == b':')
                .and_then(|colon| rmp_serde::from_slice::<V>(&holder[colon + 1..]).ok());
            match holders_version {
                Some(theirs) if theirs >= *version => {}
                _ => return MissLock::Generate,
            }
            let now = Instant::now();
            if now >= deadline {
                return MissLock::Generate;
            }
            tokio::time::sleep(POLL.min(deadline - now)).await;
            match self.read::<V, T>(locator).await {
                Ok(Some(stored))
                    if !stored.expired
                        && !stored.marked
                        && self.is_current_record(&stored.record, version, fingerprint) =>
                {
                    return MissLock::Landed(stored.record);
                }
                Ok(_) => {} // not yet: take the lock if it is gone, else wait on
                Err(_) => return MissLock::Generate,
            }
        }
    }
}
