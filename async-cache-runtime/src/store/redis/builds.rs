//! Which of two builds is newer. Each build's fingerprint registers, once, the time
//! the shared tier first saw it (Redis's clock) in `{prefix}swr:builds`; the order is
//! that time, ties broken by the fingerprint's value. Fingerprints already looked up
//! are kept in this process: deciding costs a map read, and a round trip only the
//! first time a fingerprint is met.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};

use super::Shared;
use crate::store::StoreError;

#[derive(Default)]
pub(super) struct Builds {
    /// Fingerprint -> microseconds since the epoch by Redis's clock when first seen.
    seen: RwLock<HashMap<u64, u64>>,
    /// Fingerprints a background registration is under way for.
    asking: Mutex<Vec<u64>>,
}

impl Builds {
    fn first_seen(&self, fingerprint: u64) -> Option<u64> {
        self.seen
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .get(&fingerprint)
            .copied()
    }

    fn learn(&self, fingerprint: u64, first_seen: u64) {
        self.seen
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .insert(fingerprint, first_seen);
    }
}

/// What deciding between two builds needs and does not have yet.
pub(super) enum Unknown {
    One(u64),
    Two(u64, u64),
}

impl Shared {
    /// Whether a record of the build `stored` is current for a caller of the build
    /// `caller`, at an equal version: the same build, a caller that names none
    /// (fingerprint 0), or a record of the newer build. A build not looked up yet
    /// counts as not newer (the record is stale: a refresh, whose write looks both up,
    /// then settles it), and is looked up in the background.
    pub(super) fn build_is_current(self: &Arc<Self>, stored: u64, caller: u64) -> bool {
        match self.compare_builds(stored, caller) {
            Ok(current) => current,
            Err(unknown) => {
                match unknown {
                    Unknown::One(a) => self.learn_build_later(a),
                    Unknown::Two(a, b) => {
                        self.learn_build_later(a);
                        self.learn_build_later(b);
                    }
                }
                false
            }
        }
    }

    /// [`build_is_current`](Self::build_is_current), looking up what is not known
    /// yet first: the no-downgrade decision of a write.
    pub(super) async fn build_is_current_now(
        self: &Arc<Self>,
        stored: u64,
        caller: u64,
    ) -> Result<bool, StoreError> {
        match self.compare_builds(stored, caller) {
            Ok(current) => Ok(current),
            Err(unknown) => {
                match unknown {
                    Unknown::One(a) => self.register_build(a).await?,
                    Unknown::Two(a, b) => {
                        self.register_build(a).await?;
                        self.register_build(b).await?;
                    }
                }
                Ok(self.compare_builds(stored, caller).unwrap_or(false))
            }
        }
    }

    fn compare_builds(&self, stored: u64, caller: u64) -> Result<bool, Unknown> {
        if caller == 0 || stored == caller {
            return Ok(true);
        }
        if stored == 0 {
            return Ok(false); // a record of no known build is older than any build
        }
        let builds = &self.builds;
        match (builds.first_seen(stored), builds.first_seen(caller)) {
            (Some(s), Some(c)) => Ok((s, stored) > (c, caller)),
            (None, Some(_)) => Err(Unknown::One(stored)),
            (Some(_), None) => Err(Unknown::One(caller)),
            (None, None) => Err(Unknown::Two(stored, caller)),
        }
    }

    /// Registers `fingerprint` (if no process did yet) and learns when it was first
    /// seen. Also called for every fingerprint this process writes, so each build is
    /// registered when it first writes.
    pub(super) async fn register_build(
        self: &Arc<Self>,
        fingerprint: u64,
    ) -> Result<(), StoreError> {
        if fingerprint == 0 || self.builds.first_seen(fingerprint).is_some() {
            return Ok(());
        }
        let script = self.clone();
        let seen: String = self
            .link
            .run(move |mut conn| async move {
                script
                    .scripts
                    .register_build
                    .key(script.keys.builds())
                    .arg(format!("{fingerprint:016x}"))
                    .invoke_async::<String>(&mut conn)
                    .await
            })
            .await?;
        let first_seen = seen.parse::<u64>().map_err(|_| {
            StoreError(format!(
                "redis: a build's first-seen time is not a number: {seen:?}"
            ))
        })?;
        self.builds.learn(fingerprint, first_seen);
        Ok(())
    }

    fn learn_build_later(self: &Arc<Self>, fingerprint: u64) {
        let Some(runtime) = self.runtime() else {
            return;
        };
        {
            let mut asking = self
                .builds
                .asking
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            if asking.contains(&fingerprint) {
                return;
            }
            asking.push(fingerprint);
        }
        let shared = self.clone();
        drop(runtime.spawn(async move {
            if let Err(error) = shared.register_build(fingerprint).await {
                tracing::debug!(%error, fingerprint, "build not looked up: stale until it is");
            }
            shared
                .builds
                .asking
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner())
                .retain(|&f| f != fingerprint);
        }));
    }
}
