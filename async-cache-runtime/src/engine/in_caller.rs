//! A generation in the caller: run it under a claim, or join one of the same or a
//! newer version already running (miss coalescing).

use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};
use std::sync::Arc;
use std::time::Duration;

use futures_util::FutureExt;
use tokio::runtime::Handle;

use super::Engine;
use crate::FetchOptions;
use crate::flights::{Claim, Landed, Lead, generating, is_generating};
use crate::store::sealed::StorePriv;
use crate::store::{Backend, ErasedRecord, Record, Store};
use crate::telemetry::Kind;
use crate::telemetry::spans::{Generation, Outcome};
use tracing::Instrument;

/// How a caller that had to generate was answered.
pub(super) enum InCaller<T, E> {
    /// By a generation: its own, or one it joined.
    Generated(Result<T, E>),
    /// By the store: another caller's generation landed just before its own began.
    AlreadyStored(T),
    /// Not yet: the generation it joined ended without a result. After a failure the
    /// caller runs its own next (`may_join: false`), so that no caller waits behind
    /// more than one failed generation it did not run; after a cancelled runner it
    /// may coalesce again.
    Retry { may_join: bool },
}

impl<S: Backend> Engine<S> {
    pub(super) async fn generate_in_caller<V, T, E, G, Fut>(
        self: &Arc<Self>,
        locator: &str,
        version: &V,
        options: &FetchOptions,
        may_join: bool,
        kind: Kind,
        generate: &mut Option<G>,
    ) -> InCaller<T, E>
    where
        S: Store<V, T>,
        V: Ord + Clone + Send + Sync + 'static,
        T: Clone + Send + Sync + 'static,
        G: FnOnce() -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        let claim = match self
            .flights
            .lead_or_join::<V, T>(locator, version, may_join)
        {
            Lead::Join(flight) => {
                if is_generating(&flight) {
                    panic!(
                        "async-cache: the generation of `{locator}` fetches `{locator}` itself and \
                         would wait on its own generation forever; fetch another locator, or \
                         build the value without the cache"
                    );
                }
                return match flight.wait().await {
                    Landed::Done(record) => match record.typed::<V, T>() {
                        Some(record) => InCaller::Generated(Ok(record.value.clone())),
                        None => InCaller::Retry { may_join: true },
                    },
                    Landed::Failed => InCaller::Retry { may_join: false },
                    Landed::Abandoned => InCaller::Retry { may_join: true },
                };
            }
            Lead::Run(claim) => claim,
        };
        // Another leader may have stored it and left between this caller's read and
        // its claim: then there is nothing to generate.
        if let Some(stored) = self.read::<V, T>(locator).await {
            if self.store.is_current(&stored, version, options.fingerprint) {
                let value = stored.value.clone();
                claim.complete(ErasedRecord::new(stored));
                return InCaller::AlreadyStored(value);
            }
        }
        let generate = generate
            .take()
            .expect("a caller leads one generation at most");
        let mut run = Generation::in_caller(&self.counters, locator, kind);
        // A failure is told to the waiters explicitly: a claim merely dropped means a
        // cancelled runner, after which the waiters coalesce again.
        let generation = match run
            .span
            .in_scope(|| catch_unwind(AssertUnwindSafe(generate)))
        {
            Ok(generation) => generation.instrument(run.span.clone()),
            Err(panic) => {
                claim.fail();
                run.end(Outcome::Panic);
                resume_unwind(panic);
            }
        };
        let outcome = AssertUnwindSafe(generating(claim.flight(), true, generation))
            .catch_unwind()
            .await;
        run.ran();
        let value = match outcome {
            Ok(Ok(value)) => value,
            Ok(Err(error)) => {
                claim.fail();
                run.end(Outcome::Err);
                return InCaller::Generated(Err(error));
            }
            Err(panic) => {
                claim.fail();
                run.end(Outcome::Panic);
                resume_unwind(panic);
            }
        };
        let record = Arc::new(Record::new(version.clone(), value, options.fingerprint));
        // The waiters have the value at once; the write lands even if this caller is
        // cancelled during it.
        claim.complete(ErasedRecord::new(record.clone()));
        let value = record.value.clone();
        let stored = Landing {
            engine: self.clone(),
            write: Some((claim, record)),
            expires_in: options.expires_in,
        }
        .land()
        .await;
        run.end(if stored {
            Outcome::Ok
        } else {
            Outcome::Discarded
        });
        InCaller::Generated(Ok(value))
    }
}

/// The store write of a generation whose value is made: if its caller is cancelled
/// before the write is done, the write is finished in a task of its own. The claim
/// stays registered until then, so later callers join its result rather than
/// generating again.
struct Landing<S, V, T>
where
    S: Backend + StorePriv<V, T>,
    V: Ord + Send + Sync + 'static,
    T: Send + Sync + 'static,
{
    engine: Arc<Engine<S>>,
    write: Option<(Claim, Arc<Record<V, T>>)>,
    expires_in: Option<Duration>,
}

impl<S, V, T> Landing<S, V, T>
where
    S: Backend + StorePriv<V, T>,
    V: Ord + Send + Sync + 'static,
    T: Send + Sync + 'static,
{
    /// Whether the value was stored.
    async fn land(mut self) -> bool {
        let mut stored = false;
        if let Some((claim, record)) = &self.write {
            stored = self.engine.write(claim, record, self.expires_in).await;
        }
        self.write = None;
        stored
    }
}

impl<S, V, T> Drop for Landing<S, V, T>
where
    S: Backend + StorePriv<V, T>,
    V: Ord + Send + Sync + 'static,
    T: Send + Sync + 'static,
{
    fn drop(&mut self) {
        let Some((claim, record)) = self.write.take() else {
            return;
        };
        let Ok(runtime) = Handle::try_current() else {
            return;
        };
        let engine = self.engine.clone();
        let expires_in = self.expires_in;
        drop(runtime.spawn(async move {
            engine.write(&claim, &record, expires_in).await;
        }));
    }
}
