//! The strategy loop: read the store, decide (a pure function), carry it out.

use std::future::Future;
use std::sync::Arc;

use super::Engine;
use super::in_caller::InCaller;
use crate::decision::{Action, Found, decide};
use crate::store::{Backend, Store};
use crate::telemetry::Kind;
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
        let mut generate = Some(generate);
        let mut may_join = true;
        loop {
            let record = self.read::<V, T>(locator).await;
            let found = match &record {
                None => Found::Absent,
                Some(r) if self.store.is_current(r, &version, options.fingerprint) => {
                    Found::Current
                }
                Some(_) => Found::Outdated,
            };
            let runtime = match found {
                Found::Outdated if !options.force_sync => self.worker.runtime(),
                _ => None,
            };
            let (served, result) =
                match (decide(found, runtime.is_some(), options.force_sync), record) {
                    (Action::Serve, Some(record)) => (Served::Hit, Ok(record.value.clone())),
                    (Action::ServeStale, Some(record)) => {
                        counters.stale_age(record.age());
                        let stale_since = record.stale_read();
                        if let Some(runtime) = runtime {
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
                    (action, _) => {
                        let kind = match action {
                            Action::Regenerate => Kind::Sync,
                            _ => Kind::Miss,
                        };
                        match self
                            .generate_in_caller(
                                locator,
                                &version,
                                options,
                                may_join,
                                kind,
                                &mut generate,
                            )
                            .await
                        {
                            // The generation it joined ended without a result: decide again.
                            InCaller::Retry { may_join: again } => {
                                may_join = again;
                                continue;
                            }
                            InCaller::AlreadyStored(value) => (Served::Hit, Ok(value)),
                            InCaller::Generated(result) if action == Action::Regenerate => {
                                (Served::Sync, result)
                            }
                            InCaller::Generated(result) => (Served::Miss, result),
                        }
                    }
                };
            counters.served(served);
            served.record();
            return (result, served);
        }
    }
}
