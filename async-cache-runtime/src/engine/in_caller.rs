//! A generation in the caller: run it under a claim, or join one of the same or a
//! newer version already running (miss coalescing).

use std::any::Any;
use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use futures_util::FutureExt;
use tokio::runtime::Handle;
use tokio::sync::oneshot;

use super::Engine;
use crate::FetchOptions;
use crate::decision::{Found as Standing, classify};
use crate::flights::{Claim, Landed, Lead, generating, is_generating};
use crate::store::record::tick;
use crate::store::sealed::{MissGuard, MissLock, StorePriv, WriteOptions};
use crate::store::{Backend, ErasedRecord, Record, Store};
use crate::telemetry::spans::{Generation, Outcome as Traced};
use crate::telemetry::{Kind, Refresh};
use tracing::Instrument;

/// How a caller that had to generate was answered.
pub(super) enum InCaller<T, E> {
    /// By a generation: its own, or one it joined.
    Generated(Result<T, E>),
    /// By its own generation's panic, which the strategy resumes unless a fail-safe
    /// fallback answers instead.
    Panicked(Box<dyn Any + Send>),
    /// By the store: another caller's generation landed just before its own began.
    AlreadyStored(T),
    /// Not yet: the generation it joined ended without a result. After a failure the
    /// caller runs its own next (`may_join: false`), so that no caller waits behind
    /// more than one failed generation it did not run; after a cancelled runner it
    /// may coalesce again.
    Retry { may_join: bool },
    /// It waited its soft timeout: its fallback answers; the generation goes on.
    SoftTimedOut,
}

/// How a caller asks to generate.
pub(super) struct Ask {
    /// Whether it may join a generation already running (not after a failure).
    pub(super) may_join: bool,
    /// Its soft timeout, when it has a fallback and may use it.
    pub(super) soft: Option<Duration>,
    /// Why it generates: a miss or a regeneration in the caller.
    pub(super) kind: Kind,
}

/// A generation led in the caller, about to run: what it needs to land.
struct Leading<V> {
    claim: Claim,
    /// The cross-process miss lock, held until the write is done.
    miss: Option<MissGuard>,
    version: V,
    fingerprint: u64,
    write: WriteOptions,
    run: Generation,
}

/// What a generation in the caller ended with.
enum Ended<T, E> {
    Value(T),
    Error(E),
    Panic(Box<dyn Any + Send>),
}

impl<S: Backend> Engine<S> {
    pub(super) async fn generate_in_caller<V, T, E, G, Fut>(
        self: &Arc<Self>,
        locator: &str,
        version: &V,
        options: &FetchOptions,
        ask: Ask,
        generate: &mut Option<G>,
    ) -> InCaller<T, E>
    where
        S: Store<V, T>,
        V: Ord + Clone + Send + Sync + 'static,
        T: Clone + Send + Sync + 'static,
        E: Send + 'static,
        G: FnOnce() -> Fut,
        Fut: Future<Output = Result<T, E>> + Send + 'static,
    {
        let Ask {
            may_join,
            soft,
            kind,
        } = ask;
        // Outside a tokio runtime there is no soft timeout: nowhere to go on.
        let soft = soft.filter(|_| Handle::try_current().is_ok());
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
                let landed = match soft {
                    Some(wait) => match tokio::time::timeout(wait, flight.wait()).await {
                        Ok(landed) => landed,
                        Err(_) => return InCaller::SoftTimedOut,
                    },
                    None => flight.wait().await,
                };
                return match landed {
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
        if let Some(found) = self.lookup::<V, T>(locator).await {
            let facts = self.facts(
                found.peeked(),
                version,
                options.fingerprint,
                options.refresh_after,
                options.fail_safe.is_some(),
            );
            if classify(facts) == Standing::Current {
                let value = found.record.value.clone();
                claim.complete(ErasedRecord::new(found.record));
                return InCaller::AlreadyStored(value);
            }
        }
        // Across processes (contract §7.1): wait for another process's generation of
        // this version or a newer one, or hold the miss lock while generating.
        let miss = match self
            .store
            .lock_miss(locator, version, options.fingerprint)
            .await
        {
            MissLock::Landed(stored) => {
                let value = stored.value.clone();
                claim.complete(ErasedRecord::new(stored));
                return InCaller::Generated(Ok(value));
            }
            MissLock::Lead(guard) => Some(guard),
            MissLock::Generate => None,
        };
        let generate = generate
            .take()
            .expect("a caller leads one generation at most");
        let since = tick();
        let run = Generation::in_caller(&self.counters, locator, kind);
        // A failure is told to the waiters explicitly: a claim merely dropped means a
        // cancelled runner, after which the waiters coalesce again.
        let generation = match run
            .span
            .in_scope(|| catch_unwind(AssertUnwindSafe(generate)))
        {
            Ok(generation) => generating(
                claim.flight(),
                true,
                generation.instrument(run.span.clone()),
            ),
            Err(panic) => {
                claim.fail();
                run.end(Traced::Panic);
                return InCaller::Panicked(panic);
            }
        };
        let write = WriteOptions {
            expires_in: options.expires_in,
            fail_safe: options.fail_safe,
            since: Some(since),
        };
        let lead = Leading {
            claim,
            miss,
            version: version.clone(),
            fingerprint: options.fingerprint,
            write,
            run,
        };
        let outcome = match soft {
            None => self.land(lead, generation).await,
            Some(wait) => match self.land_or_detach(lead, generation, wait).await {
                Some(outcome) => outcome,
                None => return InCaller::SoftTimedOut,
            },
        };
        match outcome {
            Ended::Value(value) => InCaller::Generated(Ok(value)),
            Ended::Error(error) => InCaller::Generated(Err(error)),
            Ended::Panic(panic) => InCaller::Panicked(panic),
        }
    }

    /// Runs the generation to its end and stores its value; the miss lock, if any, is
    /// held until the write is done (released at once on a failure).
    async fn land<V, T, E, Fut>(self: &Arc<Self>, lead: Leading<V>, generation: Fut) -> Ended<T, E>
    where
        S: Store<V, T>,
        V: Ord + Clone + Send + Sync + 'static,
        T: Clone + Send + Sync + 'static,
        Fut: Future<Output = Result<T, E>>,
    {
        let Leading {
            claim,
            miss,
            version,
            fingerprint,
            write,
            mut run,
        } = lead;
        let outcome = AssertUnwindSafe(generation).catch_unwind().await;
        run.ran();
        let value = match outcome {
            Ok(Ok(value)) => value,
            Ok(Err(error)) => {
                claim.fail();
                run.end(Traced::Err);
                return Ended::Error(error);
            }
            Err(panic) => {
                claim.fail();
                run.end(Traced::Panic);
                return Ended::Panic(panic);
            }
        };
        let record = Arc::new(Record::new(version, value, fingerprint));
        // The waiters have the value at once; the write lands even if this caller is
        // cancelled during it.
        claim.complete(ErasedRecord::new(record.clone()));
        let value = record.value.clone();
        let stored = Landing {
            engine: self.clone(),
            write: Some((claim, record, miss)),
            options: write,
        }
        .land()
        .await;
        run.end(if stored {
            Traced::Ok
        } else {
            Traced::Discarded
        });
        Ended::Value(value)
    }

    /// [`land`](Self::land) in a task of the caller's runtime, waited for at most
    /// `wait`: then the caller is answered by its fallback (`None`) and the generation
    /// goes on, counted as a background refresh that takes no place, waited for by
    /// `wait_for_refreshes`, its claim held until it lands (contract §6.3).
    async fn land_or_detach<V, T, E, Fut>(
        self: &Arc<Self>,
        lead: Leading<V>,
        generation: Fut,
        wait: Duration,
    ) -> Option<Ended<T, E>>
    where
        S: Store<V, T>,
        V: Ord + Clone + Send + Sync + 'static,
        T: Clone + Send + Sync + 'static,
        E: Send + 'static,
        Fut: Future<Output = Result<T, E>> + Send + 'static,
    {
        let (answer, answered) = oneshot::channel();
        let detached = Arc::new(Mutex::new(false));
        let engine = self.clone();
        let task_detached = detached.clone();
        drop(Handle::current().spawn(async move {
            let outcome = engine.land(lead, generation).await;
            let detached = task_detached.lock().unwrap_or_else(PoisonError::into_inner);
            if *detached {
                let counters = &engine.counters;
                match outcome {
                    Ended::Value(_) => counters.refresh(Refresh::Completed),
                    Ended::Error(_) | Ended::Panic(_) => {
                        counters.refresh(Refresh::Failed);
                        tracing::warn!(
                            "generation gone on past its soft timeout failed; the old entry stays"
                        );
                    }
                }
                engine.worker.continuation_ended();
            } else {
                let _ = answer.send(outcome);
            }
        }));
        let mut answered = answered;
        match tokio::time::timeout(wait, &mut answered).await {
            Ok(Ok(outcome)) => Some(outcome),
            // Its task was dropped with its runtime: nothing was made.
            Ok(Err(_)) => Some(Ended::Panic(Box::new("the runtime shut down"))),
            Err(_) => {
                let mut detached = detached.lock().unwrap_or_else(PoisonError::into_inner);
                if let Ok(outcome) = answered.try_recv() {
                    return Some(outcome);
                }
                *detached = true;
                self.counters.refresh(Refresh::Started);
                self.worker.continuation_started();
                None
            }
        }
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
    write: Option<PendingWrite<V, T>>,
    options: WriteOptions,
}

/// A made record not yet stored: its claim, and the miss lock held until it is.
type PendingWrite<V, T> = (Claim, Arc<Record<V, T>>, Option<MissGuard>);

impl<S, V, T> Landing<S, V, T>
where
    S: Backend + StorePriv<V, T>,
    V: Ord + Send + Sync + 'static,
    T: Send + Sync + 'static,
{
    /// Whether the value was stored.
    async fn land(mut self) -> bool {
        let mut stored = false;
        if let Some((claim, record, _miss)) = &self.write {
            stored = self.engine.write(claim, record, self.options).await;
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
        let Some((claim, record, miss)) = self.write.take() else {
            return;
        };
        let Ok(runtime) = Handle::try_current() else {
            return;
        };
        let engine = self.engine.clone();
        let options = self.options;
        drop(runtime.spawn(async move {
            engine.write(&claim, &record, options).await;
            drop(miss);
        }));
    }
}
