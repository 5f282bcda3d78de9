//! The cross-process refresh lock: `SET NX PX` with a random token, released by a
//! compare-and-delete, so one process refreshes a locator at a time. While it is held
//! a task renews it about every third of its ttl (a compare-and-`PEXPIRE`), so a
//! refresh that outlives the ttl keeps it; the task ends when the lock is released
//! or its token dropped, and a crashed holder's lock expires one ttl after its last
//! renewal.

use std::hash::BuildHasher;
use std::sync::atomic::{AtomicU64, Ordering::SeqCst};
use std::sync::{Arc, Weak};
use std::time::Duration;

use moka::sync::Cache as Moka;

use super::Shared;
use super::link::duration_ms;
use crate::store::StoreError;

/// How long a lock seen held elsewhere is believed held without asking again.
const LOCKED_ELSEWHERE_MEMO: Duration = Duration::from_millis(250);

pub(super) struct RefreshLocks {
    ttl: Duration,
    /// Locators whose refresh lock another process held a moment ago: while it
    /// refreshes, this process's stale reads do not each ask Redis again.
    locked_elsewhere: Moka<String, (), foldhash::fast::RandomState>,
}

/// A claim on refreshing one locator across processes: the token its lock holds,
/// and the task that renews it, stopped when this is dropped.
#[derive(Debug)]
pub struct RefreshToken {
    token: String,
    renewal: Option<tokio::task::AbortHandle>,
}

impl Drop for RefreshToken {
    fn drop(&mut self) {
        if let Some(renewal) = self.renewal.take() {
            renewal.abort();
        }
    }
}

impl RefreshLocks {
    pub(super) fn new(max_capacity: u64, ttl: Duration) -> Self {
        RefreshLocks {
            ttl,
            locked_elsewhere: Moka::builder()
                .max_capacity(max_capacity)
                .time_to_live(LOCKED_ELSEWHERE_MEMO.min(ttl))
                .build_with_hasher(foldhash::fast::RandomState::default()),
        }
    }
}

impl Shared {
    pub(super) async fn lock_refresh(
        self: Arc<Self>,
        locator: String,
    ) -> Result<Option<RefreshToken>, StoreError> {
        if self.locks.locked_elsewhere.contains_key(locator.as_str()) {
            return Ok(None);
        }
        let key = self.keys.refresh_lock(&locator);
        let token = random_token();
        let ttl_ms = duration_ms(self.locks.ttl).max(1);
        let value = token.clone();
        let set_key = key.clone();
        let taken = self
            .link
            .run(move |mut conn| async move {
                redis::cmd("SET")
                    .arg(&set_key)
                    .arg(&value)
                    .arg("NX")
                    .arg("PX")
                    .arg(ttl_ms)
                    .query_async::<Option<String>>(&mut conn)
                    .await
            })
            .await?;
        if taken.is_none() {
            self.locks.locked_elsewhere.insert(locator, ());
            return Ok(None);
        }
        // The refresh re-reads the entry next: from Redis, not from this process's
        // possibly older near copy.
        if let Some(near) = &self.near {
            near.remove(&locator);
        }
        let renewal = self.renew_while_held(key, token.clone());
        Ok(Some(RefreshToken { token, renewal }))
    }

    /// Spawns the task that keeps the lock `key` alive while it holds `token`: every
    /// third of the ttl, so two renewals may fail (a slow command, a short fault)
    /// before the lock lapses.
    fn renew_while_held(
        self: &Arc<Self>,
        key: String,
        token: String,
    ) -> Option<tokio::task::AbortHandle> {
        let runtime = self.runtime()?;
        let ttl = self.locks.ttl;
        let every = (ttl / 3).max(Duration::from_millis(1));
        let ttl_ms = duration_ms(ttl).max(1);
        let weak: Weak<Shared> = Arc::downgrade(self);
        let task = runtime.spawn(async move {
            let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                ticks.tick().await;
                let Some(shared) = weak.upgrade() else { return };
                let script = shared.clone();
                let (key, token) = (key.clone(), token.clone());
                let renewed = shared
                    .link
                    .run(move |mut conn| async move {
                        script
                            .scripts
                            .renew
                            .key(&key)
                            .arg(&token)
                            .arg(ttl_ms)
                            .invoke_async::<i64>(&mut conn)
                            .await
                    })
                    .await;
                match renewed {
                    Ok(1) => {}
                    Ok(_) => {
                        tracing::warn!(
                            "a refresh lock lapsed before it was renewed: another process may refresh too"
                        );
                        return;
                    }
                    Err(error) => {
                        tracing::debug!(%error, "refresh lock not renewed: retrying");
                    }
                }
            }
        });
        Some(task.abort_handle())
    }

    pub(super) async fn unlock_refresh(
        self: Arc<Self>,
        locator: String,
        lock: RefreshToken,
    ) -> Result<(), StoreError> {
        let key = self.keys.refresh_lock(&locator);
        let token = lock.token.clone();
        // No renewal after this: one in flight is a compare-and-expire, a no-op on a
        // lock that is gone.
        drop(lock);
        let script = self.clone();
        self.link
            .run(move |mut conn| async move {
                script
                    .scripts
                    .unlock
                    .key(&key)
                    .arg(&token)
                    .invoke_async::<i64>(&mut conn)
                    .await
            })
            .await
            .map(drop)
    }
}

/// A token no other lock holder has: unique in this process by the counter, across
/// processes by the process id, the time and the hasher's random keys.
pub(super) fn random_token() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let state = foldhash::fast::RandomState::default();
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let seed = (std::process::id(), COUNTER.fetch_add(1, SeqCst), nanos);
    let high = state.hash_one(seed);
    let low = state.hash_one((seed, high));
    format!("{:x}-{:016x}{:016x}", std::process::id(), high, low)
}
