//! The backplane that keeps near caches coherent across processes: every write,
//! removal and `invalidate_all` publishes an event on `{prefix}swr:events` from inside
//! its own script (atomically with it, no extra round trip), and every process with
//! a near cache subscribes and drops the copies the events name.
//!
//! An event is `<kind><origin>:<locator>`: kind `w` (a write), `i` (a removal), `x`
//! (an `expire`, which marks the copies it names outdated) or `a` (`invalidate_all`,
//! no locator); the origin is this store's random id, so a
//! process skips its own events (its near cache is already up to date). A write's
//! event also names the version written (its MessagePack bytes, length-prefixed
//! before the locator): a near copy of a newer version is kept, one of that version
//! or an older one is dropped (a same-version write is a newer make: a refresh by
//! age, a `put`), so the next read refreshes it from Redis.
//!
//! On a Redis Cluster the channel is an ordinary one: a cluster broadcasts `PUBLISH`
//! (from a script too) to every node, so the subscription is made to one node, and
//! remade on the next node given when it is lost (a node that failed, say).
//!
//! The subscription is made by a task of its own, on a connection of its own, and is
//! in place before the store's first access returns (or that access has waited a
//! command timeout for it). If it is lost (the connection dropped, or killed with
//! `CLIENT KILL TYPE pubsub`), copies fall back to the near cache's ttl; once it is
//! back, the near cache is cleared, so an event missed meanwhile never makes a copy
//! live longer than the ttl.

use std::pin::pin;
use std::sync::atomic::{AtomicBool, Ordering::SeqCst};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use futures_util::StreamExt;
use futures_util::future::{Either, select};
use tokio::sync::{oneshot, watch};

use super::Shared;
use super::keys::MARKER;

/// The pause between attempts to subscribe again.
const MIN_RESUBSCRIBE: Duration = Duration::from_millis(50);

pub(super) const WRITE: u8 = b'w';
pub(super) const REMOVE: u8 = b'i';
pub(super) const EXPIRE: u8 = b'x';
pub(super) const CLEAR: u8 = b'a';

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    Connecting,
    Live,
    Lost,
}

pub(super) struct Backplane {
    channel: String,
    origin: String,
    state: watch::Sender<State>,
    started: AtomicBool,
    /// Set once the first access has waited for the subscription.
    awaited: AtomicBool,
    /// Never sent on: dropped with the store, which ends the subscriber.
    _alive: oneshot::Sender<()>,
    gone: Mutex<Option<oneshot::Receiver<()>>>,
}

impl Backplane {
    pub(super) fn new(prefix: &str, origin: String) -> Self {
        let (alive, gone) = oneshot::channel();
        Backplane {
            _alive: alive,
            gone: Mutex::new(Some(gone)),
            channel: format!("{prefix}{MARKER}events"),
            origin,
            state: watch::Sender::new(State::Connecting),
            started: AtomicBool::new(false),
            awaited: AtomicBool::new(false),
        }
    }

    pub(super) fn channel(&self) -> &str {
        &self.channel
    }

    /// The event this store publishes for `kind` on `locator`.
    pub(super) fn event(&self, kind: u8, locator: &str) -> Vec<u8> {
        let mut event = Vec::with_capacity(2 + self.origin.len() + locator.len());
        event.push(kind);
        event.extend_from_slice(self.origin.as_bytes());
        event.push(b':');
        event.extend_from_slice(locator.as_bytes());
        event
    }

    /// The event of a write of the version whose MessagePack bytes are `version`:
    /// its length in 8 hex digits and the bytes go before the locator.
    pub(super) fn write_event(&self, locator: &str, version: &[u8]) -> Vec<u8> {
        let mut event = Vec::with_capacity(10 + self.origin.len() + version.len() + locator.len());
        event.push(WRITE);
        event.extend_from_slice(self.origin.as_bytes());
        event.push(b':');
        event.extend_from_slice(format!("{:08x}", version.len()).as_bytes());
        event.extend_from_slice(version);
        event.extend_from_slice(locator.as_bytes());
        event
    }
}

impl Shared {
    /// Starts the subscription if this store has a near cache and it is not under
    /// way, and, the first time, waits (at most a command timeout) until it is in
    /// place.
    pub(super) async fn backplane_ready(self: &Arc<Self>) {
        let backplane = &self.backplane;
        if self.near.is_none() || backplane.awaited.load(SeqCst) {
            return;
        }
        if !backplane.started.swap(true, SeqCst) {
            let Some(runtime) = self.runtime() else {
                backplane.started.store(false, SeqCst);
                return;
            };
            let gone = backplane
                .gone
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner())
                .take();
            if let Some(gone) = gone {
                drop(runtime.spawn(subscribe(Arc::downgrade(self), gone)));
            }
        }
        let mut state = backplane.state.subscribe();
        let _ = tokio::time::timeout(
            self.link.timeout(),
            state.wait_for(|state| *state != State::Connecting),
        )
        .await;
        backplane.awaited.store(true, SeqCst);
    }

    fn on_event(&self, event: &[u8]) {
        let (backplane, Some(near)) = (&self.backplane, &self.near) else {
            return;
        };
        let Some((&kind, rest)) = event.split_first() else {
            return;
        };
        let Some(colon) = rest.iter().position(|&b| b == b':') else {
            return;
        };
        if &rest[..colon] == backplane.origin.as_bytes() {
            return;
        }
        let body = &rest[colon + 1..];
        let drop_copy = |locator: &[u8]| {
            let Ok(locator) = std::str::from_utf8(locator) else {
                return;
            };
            // A read under way does not put back what it found before.
            self.entries.removals.fetch_add(1, SeqCst);
            near.remove(locator);
        };
        match kind {
            WRITE => {
                let length = body
                    .get(..8)
                    .and_then(|hex| std::str::from_utf8(hex).ok())
                    .and_then(|hex| usize::from_str_radix(hex, 16).ok());
                let Some((version, locator)) =
                    length.and_then(|n| Some((body.get(8..8 + n)?, body.get(8 + n..)?)))
                else {
                    return;
                };
                // A copy of a newer version stays; one of that version (an older make)
                // or an older one goes, and the next read finds the new record in Redis.
                let keep =
                    std::str::from_utf8(locator).is_ok_and(|locator| near.keeps(locator, version));
                if !keep {
                    drop_copy(locator);
                }
            }
            REMOVE => drop_copy(body),
            EXPIRE => {
                if let Ok(locator) = std::str::from_utf8(body) {
                    // A read under way does not put back an unmarked copy.
                    self.entries.removals.fetch_add(1, SeqCst);
                    near.mark(locator);
                }
            }
            CLEAR => {
                let epoch = near.clear();
                near.sweep(epoch);
            }
            _ => {}
        }
    }
}

/// The subscriber: subscribes, drops what events name, and subscribes again after
/// a loss, clearing the near cache each time it is (back) in place. Holds the store
/// weakly: it ends with the cache.
async fn subscribe(store: Weak<Shared>, mut gone: oneshot::Receiver<()>) {
    // On a cluster, the node the subscription is made to: the next one after a
    // loss, so a dead node is not retried forever while others answer.
    let mut node = 0_usize;
    loop {
        let Some(shared) = store.upgrade() else {
            return;
        };
        let clients = shared.link.subscription_clients();
        if clients.is_empty() {
            return;
        }
        let client = clients[node % clients.len()].clone();
        node = node.wrapping_add(1);
        let backplane = &shared.backplane;
        let timeout = shared.link.timeout();
        let pause = shared.link.backoff().max(MIN_RESUBSCRIBE);
        let channel = backplane.channel.clone();
        drop(shared);

        let subscribed = tokio::time::timeout(timeout, async {
            let mut pubsub = client.get_async_pubsub().await?;
            pubsub.subscribe(&channel).await?;
            // The client passes a refused SUBSCRIBE (an ACL's NOPERM, say) off as
            // done; only a subscribed connection answers PING with an array.
            match pubsub.ping::<redis::Value>().await? {
                redis::Value::Array(_) => Ok(pubsub),
                other => Err(redis::RedisError::from((
                    redis::ErrorKind::UnexpectedReturnType,
                    "SUBSCRIBE refused",
                    format!("{other:?}"),
                ))),
            }
        })
        .await;
        match subscribed {
            Ok(Ok(pubsub)) => {
                let Some(shared) = store.upgrade() else {
                    return;
                };
                if let Some(near) = &shared.near {
                    shared.entries.removals.fetch_add(1, SeqCst);
                    let epoch = near.clear();
                    near.sweep(epoch);
                }
                let was = shared.backplane.state.send_replace(State::Live);
                if was == State::Lost {
                    tracing::info!("near cache backplane subscribed again");
                }
                drop(shared);
                let mut events = pin!(pubsub.into_on_message());
                loop {
                    match select(events.next(), &mut gone).await {
                        Either::Left((Some(message), _)) => {
                            let Some(shared) = store.upgrade() else {
                                return;
                            };
                            shared.on_event(message.get_payload_bytes());
                        }
                        Either::Left((None, _)) => break,
                        Either::Right(_) => return, // the store is gone
                    }
                }
                let Some(shared) = store.upgrade() else {
                    return;
                };
                shared.backplane.state.send_replace(State::Lost);
                tracing::warn!(
                    "near cache backplane lost: copies live up to the near cache's ttl until it is back"
                );
            }
            Ok(Err(error)) => {
                tracing::debug!(%error, "near cache backplane not subscribed: retrying");
                lost(&store);
            }
            Err(_) => {
                tracing::debug!("near cache backplane not subscribed in time: retrying");
                lost(&store);
            }
        }
        tokio::time::sleep(pause).await;
    }
}

fn lost(store: &Weak<Shared>) {
    if let Some(shared) = store.upgrade() {
        shared.backplane.state.send_replace(State::Lost);
    }
}
