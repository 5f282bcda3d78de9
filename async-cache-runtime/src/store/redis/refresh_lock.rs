//! The cross-process refresh lock: `SET NX PX` with a random token, released by a
//! compare-and-delete, so one process refreshes a locator at a time.

use std::hash::BuildHasher;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::SeqCst};
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

/// A claim on refreshing one locator across processes: the token its lock holds.
#[derive(Debug)]
pub struct RefreshToken(String);

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
    fn lock_key(&self, locator: &str) -> String {
        format!("{}lock:{locator}", self.prefix)
    }

    pub(super) async fn lock_refresh(
        self: Arc<Self>,
        locator: String,
    ) -> Result<Option<RefreshToken>, StoreError> {
        if self.locks.locked_elsewhere.contains_key(locator.as_str()) {
            return Ok(None);
        }
        let key = self.lock_key(&locator);
        let token = random_token();
        let ttl_ms = duration_ms(self.locks.ttl).max(1);
        let value = token.clone();
        let taken = self
            .link
            .run(move |mut conn| async move {
                redis::cmd("SET")
                    .arg(&key)
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
        Ok(Some(RefreshToken(token)))
    }

    pub(super) async fn unlock_refresh(
        self: Arc<Self>,
        locator: String,
        lock: RefreshToken,
    ) -> Result<(), StoreError> {
        let key = self.lock_key(&locator);
        let script = self.clone();
        self.link
            .run(move |mut conn| async move {
                script
                    .scripts
                    .unlock
                    .key(&key)
                    .arg(&lock.0)
                    .invoke_async::<i64>(&mut conn)
                    .await
            })
            .await
            .map(drop)
    }
}

/// A token no other lock holder has: unique in this process by the counter, across
/// processes by the process id, the time and the hasher's random keys.
fn random_token() -> String {
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
