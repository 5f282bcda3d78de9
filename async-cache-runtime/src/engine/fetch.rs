//! The strategy loop: read the store, classify and decide (pure functions), carry it
//! out.

use std::future::Future;
use std::panic::resume_unwind;
use std::sync::Arc;
use std::time::Duration;

use super::Engine;
use super::in_caller::{Ask, InCaller};
use crate::decision::{Action, Facts, Found, classify, decide};
use crate::store::sealed::{Peek, Peeked};
use crate::store::{Backend, Record, Store};
use crate::telemetry::{Kind, Refresh};
use crate::{FetchOptions, Served};

impl<S: Backend> Engine<S> {
    pub(crate) async fn fetch<V, T, E, G, Fut>(
        self: &Arc<Self>,
        locator: &str,
        version: V,
        options: &FetchOptions,
        generate: G,
    ) -> (Result<T, E>, Served)
    where
        S: Store<V, T>,
        V: Ord + Clone + Send + Sync + 'static,
        T: Clone + Send + Sync + 'static,
        E: Send + 'static,
        G: FnOnce() -> Fut + Send,
        Fut: Future<Output = Result<T, E>> + Send + 'static,
    {
        let counters = &self.counters;
        // A fresh hit needs nothing more: decided on the record as the store lends
        // it, before the rest is made ready, and without an await where the store
        // answers at once (in memory). (Only a call's `refresh_after` bears on
        // whether an entry is current; `fail_safe` only on what an expired one is,
        // which is not current either way.)
        let refresh_after = options.refresh_after.or(self.defaults.refresh_after);
        let peeked = self.store.peek(locator, |found| {
            let facts = self.facts(found, &version, options.fingerprint, refresh_after, false);
            if classify(facts) == Found::Current {
                return Some((found.record.value.clone(), Served::Hit));
            }
            // An outage's reads: an expired entry kept as the fallback while the
            // throttle is open answers at about a hit's cost, as the loop below would
            // (an expired entry is never served stale, so no worker is asked).
            let throttled = facts.expired
                && !options.force_sync
                && options.fail_safe.or(self.defaults.fail_safe).is_some()
                && self.windows.throttled(locator);
            throttled.then(|| (found.record.value.clone(), Served::FailSafe))
        });
        let first = match peeked {
            Peek::Answered((value, served)) => {
                counters.served(served);
                served.record();
                return (Ok(value), served);
            }
            Peek::Looked(lookup) => match lookup.now() {
                Ok(found) => self.fault_as_none(locator, found),
                Err(pending) => {
                    let found = pending.await;
                    self.fault_as_none(locator, found)
                }
            },
        };
        let options = &self.defaults.apply(options);
        let mut first = Some(first);
        let mut generate = Some(generate);
        let mut may_join = true;
        loop {
            let found = match first.take() {
                Some(found) => found,
                None => self.lookup::<V, T>(locator).await,
            };
            let standing = match &found {
                None => Found::Absent,
                Some(found) => classify(self.facts(
                    found.peeked(),
                    &version,
                    options.fingerprint,
                    options.refresh_after,
                    options.fail_safe.is_some(),
                )),
            };
            let record = found.map(|found| found.record);
            // What may answer this caller instead of a generation: an outdated entry,
            // or an expired one under fail-safe.
            let fallback = match standing {
                Found::Outdated | Found::Expired => record.clone(),
                Found::Absent | Found::Current => None,
            };
            let runtime = match standing {
                Found::Outdated if !options.force_sync => self.worker.runtime(),
                _ => None,
            };
            let throttled = fallback.is_some()
                && options.fail_safe.is_some()
                && self.windows.throttled(locator);
            let action = decide(standing, runtime.is_some(), options.force_sync, throttled);
            let (served, result) = match (action, record, fallback) {
                (Action::Serve, Some(record), _) => (Served::Hit, Ok(record.value.clone())),
                (Action::ServeStale, Some(record), _) => {
                    counters.stale_age(record.age());
                    let stale_since = record.stale_read();
                    if self.windows.backed_off(locator) {
                        counters.refresh(Refresh::BackedOff);
                    } else if let Some(runtime) = runtime {
                        self.schedule_refresh(
                            runtime,
                            locator,
                            &version,
                            options,
                            stale_since,
                            &mut generate,
                        );
                    }
                    (Served::Stale, Ok(record.value.clone()))
                }
                (Action::ServeFallback, _, Some(fallback)) => self.serve_fallback(&fallback),
                (action, _, fallback) => {
                    let kind = match action {
                        Action::Regenerate => Kind::Sync,
                        _ => Kind::Miss,
                    };
                    // A caller that asked for the latest is never answered by slowness.
                    let soft = options
                        .soft_timeout
                        .filter(|_| fallback.is_some() && !options.force_sync);
                    let outcome = self
                        .generate_in_caller(
                            locator,
                            &version,
                            options,
                            Ask {
                                may_join,
                                soft,
                                kind,
                            },
                            &mut generate,
                        )
                        .await;
                    // Failures are answered with the fallback only under fail-safe.
                    let fail_safe = fallback.as_ref().filter(|_| options.fail_safe.is_some());
                    match outcome {
                        InCaller::Retry { may_join: again } => match fail_safe {
                            // The generation it waited on failed: its fallback, as the
                            // runner's.
                            Some(fallback) if !again => self.serve_fallback(fallback),
                            _ => {
                                may_join = again;
                                continue;
                            }
                        },
                        InCaller::AlreadyStored(value) => (Served::Hit, Ok(value)),
                        InCaller::Generated(Ok(value)) => self.generated(action, Ok(value)),
                        InCaller::Generated(Err(error)) => match fail_safe {
                            Some(fallback) => {
                                self.fail_over(locator, fallback, options, "an error")
                            }
                            None => self.generated(action, Err(error)),
                        },
                        InCaller::Panicked(panic) => match fail_safe {
                            Some(fallback) => self.fail_over(locator, fallback, options, "a panic"),
                            None => resume_unwind(panic),
                        },
                        InCaller::SoftTimedOut => {
                            counters.soft_timeout();
                            let fallback = fallback.expect("a soft timeout needs a fallback");
                            self.serve_fallback(&fallback)
                        }
                    }
                }
            };
            counters.served(served);
            served.record();
            return (result, served);
        }
    }

    /// What a stored entry is to a caller of `version` and build `fingerprint`, with
    /// its effective `refresh_after` and whether it uses fallbacks.
    #[inline]
    pub(super) fn facts<V, T>(
        &self,
        found: Peeked<'_, V, T>,
        version: &V,
        fingerprint: u64,
        refresh_after: Option<Duration>,
        fail_safe: bool,
    ) -> Facts
    where
        S: Store<V, T>,
        V: Ord,
    {
        Facts {
            current: self.store.is_current(found.record, version, fingerprint),
            marked: found.marked,
            aged: refresh_after.is_some_and(|age| {
                *version >= found.record.version && found.record.is_as_old_as(age)
            }),
            expired: found.expired,
            fail_safe,
        }
    }

    fn generated<T, E>(&self, action: Action, result: Result<T, E>) -> (Served, Result<T, E>) {
        if action == Action::Regenerate {
            (Served::Sync, result)
        } else {
            (Served::Miss, result)
        }
    }

    fn serve_fallback<V, T: Clone, E>(&self, fallback: &Record<V, T>) -> (Served, Result<T, E>) {
        (Served::FailSafe, Ok(fallback.value.clone()))
    }

    /// A generation for this caller failed and a fallback is stored: the caller gets
    /// it, and the throttle opens (if not open already).
    fn fail_over<V, T: Clone, E>(
        &self,
        locator: &str,
        fallback: &Record<V, T>,
        options: &FetchOptions,
        failure: &str,
    ) -> (Served, Result<T, E>) {
        tracing::warn!(
            locator,
            failure,
            "generation failed: the fail-safe fallback is served"
        );
        if options.fail_safe.is_some() {
            self.windows
                .open_throttle(locator, self.defaults.fail_safe_throttle);
        }
        self.serve_fallback(fallback)
    }
}
