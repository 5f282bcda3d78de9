//! A background refresh, as four steps: [`schedule_refresh`](Engine::schedule_refresh)
//! claims the locator and a place in the worker and spawns the task;
//! [`refresh_when_placed`](Engine::refresh_when_placed) waits for a running place and
//! releases claim and place in order; [`refresh_unless_overtaken`](Engine::refresh_unless_overtaken)
//! takes the store-wide lock and skips a refresh that is no longer needed;
//! [`generate_and_store`](Engine::generate_and_store) runs the generator and writes.
//!
//! A stale read that finds a refresh of an older version running [trails](Engine::trail)
//! it (contract §6.5): its generator's future is kept in the running flight, and when
//! that refresh releases its claim it hands claim and place to the newest one kept.

use std::any::{Any, type_name};
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;

use futures_util::FutureExt;
use tokio::runtime::Handle;

use super::{Engine, panic_message};
use crate::FetchOptions;
use crate::flights::{Claim, Flight, generating};
use crate::store::record::tick;
use crate::store::sealed::WriteOptions;
use crate::store::{Backend, ErasedRecord, Record, Store};
use crate::telemetry::Refresh;
use crate::telemetry::spans::{Generation, Outcome as Traced};
use crate::worker::Place;
use tokio::time::Instant;
use tracing::{Instrument, Span};

/// What a refresh is for: the version, the options of the call that scheduled it
/// (what it writes with), and when (a same-version entry written since stays); and
/// what it carries from the stale read that scheduled it.
struct Job<V> {
    version: V,
    options: FetchOptions,
    scheduled_at: u64,
    scheduled: Scheduled,
}

impl<V: Clone> Job<V> {
    fn new(version: &V, options: &FetchOptions, stale_since: Instant) -> Self {
        Job {
            version: version.clone(),
            options: options.clone(),
            scheduled_at: tick(),
            scheduled: Scheduled {
                cause: Span::current(),
                stale_since,
            },
        }
    }
}

/// What runs a trailing refresh, given its place and its claim.
type TrailingRun = Box<dyn FnOnce(Place, Claim) + Send>;

/// What a refresh carries from the stale read that scheduled it.
struct Scheduled {
    /// The span current at that read: the refresh's span follows from it.
    cause: Span,
    /// The first stale read of the entry since it was written: refresh lag runs
    /// from it.
    stale_since: Instant,
}

impl<S: Backend> Engine<S> {
    /// A place in the worker, or the refresh counted as dropped.
    fn reserve_or_drop(&self, locator: &str) -> Option<Place> {
        let place = self.worker.reserve(&self.counters);
        if place.is_none() {
            self.counters.refresh(Refresh::Dropped);
            tracing::debug!(
                locator,
                "refresh dropped: refresh concurrency and queue are full"
            );
        }
        place
    }

    /// Schedules one background refresh of `locator` unless one is in flight, or
    /// counts it dropped when the worker is full.
    pub(super) fn schedule_refresh<V, T, E, G, Fut>(
        self: &Arc<Self>,
        runtime: Handle,
        locator: &str,
        version: &V,
        options: &FetchOptions,
        stale_since: Instant,
        generate: &mut Option<G>,
    ) where
        S: Store<V, T>,
        V: Ord + Clone + Send + Sync + 'static,
        T: Clone + Send + Sync + 'static,
        E: Send + 'static,
        G: FnOnce() -> Fut,
        Fut: Future<Output = Result<T, E>> + Send + 'static,
    {
        let claim = match self.flights.claim_refresh::<V, T>(locator, version) {
            Ok(claim) => claim,
            // One is running: this read's version may still trail it.
            Err(Some(running)) => {
                if !running.wants_trailing(version) {
                    return; // it, or the trailing refresh it keeps, covers this read
                }
                let generate = generate
                    .take()
                    .expect("a caller schedules one refresh at most");
                // Made now: the generator need not be `'static`, its future is.
                let future = generate();
                let job = Job::new(version, options, stale_since);
                return self.trail(running, runtime, locator, job, future);
            }
            Err(None) => return, // a generation of this version or newer is in flight
        };
        let Some(mut place) = self.reserve_or_drop(locator) else {
            return;
        };
        let generate = generate
            .take()
            .expect("a caller schedules one refresh at most");
        // A panic here resumes in the caller; the place, not yet spawned, is simply
        // given back (it says nothing about the runtime).
        let future = generate();
        place.spawning();
        let engine = self.clone();
        let job = Job::new(version, options, stale_since);
        drop(runtime.spawn(async move {
            engine.refresh_when_placed(claim, place, job, future).await;
        }));
    }

    async fn refresh_when_placed<V, T, E, Fut>(
        self: Arc<Self>,
        claim: Claim,
        mut place: Place,
        refresh: Job<V>,
        future: Fut,
    ) where
        S: Store<V, T>,
        V: Ord + Clone + Send + Sync + 'static,
        T: Clone + Send + Sync + 'static,
        Fut: Future<Output = Result<T, E>>,
    {
        place.start().await;
        self.refresh_unless_overtaken(&claim, &mut place, refresh, future)
            .await;
        // None while the back-off holds the locator after a failure (nor after an
        // invalidation, which voids it: see `Claim::hand_over`).
        let next = if self.windows.backed_off(claim.locator()) {
            drop(claim);
            None
        } else {
            claim.hand_over::<V, T>()
        };
        if let Some((run, next_claim)) = next {
            // The claim went before the place: this refresh's place becomes the
            // trailing one's, so `wait_for_refreshes` waits for both.
            let run = run
                .downcast::<TrailingRun>()
                .expect("every trailing run is a `TrailingRun`");
            place.requeue();
            run(place, next_claim);
        }
    }

    /// Keeps this stale read's refresh (its `job` and generator's `future`) to run
    /// after the one `running` for an older version (contract §6.5). If that one
    /// released its claim meanwhile, the read claims its own, or trails the refresh
    /// that claimed the locator first.
    fn trail<V, T, E, Fut>(
        self: &Arc<Self>,
        running: Arc<Flight>,
        runtime: Handle,
        locator: &str,
        job: Job<V>,
        future: Fut,
    ) where
        S: Store<V, T>,
        V: Ord + Clone + Send + Sync + 'static,
        T: Clone + Send + Sync + 'static,
        E: Send + 'static,
        Fut: Future<Output = Result<T, E>> + Send + 'static,
    {
        let version = job.version.clone();
        let engine = self.clone();
        let run: TrailingRun = Box::new(move |mut place: Place, claim: Claim| {
            place.spawning();
            drop(runtime.spawn(async move {
                engine.refresh_when_placed(claim, place, job, future).await;
            }));
        });
        let mut run: Box<dyn Any + Send> = Box::new(run);
        let mut running = running;
        loop {
            if !running.wants_trailing(&version) {
                return; // covered by it, or by the trailing refresh it keeps
            }
            match running.offer_trailing(version.clone(), run) {
                Ok(()) => return,
                Err(refused) => run = refused,
            }
            // It ended: the back-off it may have opened holds this read back too.
            if self.windows.backed_off(locator) {
                return;
            }
            match self.flights.claim_refresh::<V, T>(locator, &version) {
                Ok(claim) => {
                    let Some(place) = self.reserve_or_drop(locator) else {
                        return;
                    };
                    let run = run
                        .downcast::<TrailingRun>()
                        .expect("handed back as offered");
                    return run(place, claim);
                }
                Err(Some(other)) => running = other,
                Err(None) => return, // a generation of this version or newer is in flight
            }
        }
    }

    /// Takes the store-wide lock (another process holding it: skipped), then skips the
    /// generator if the refresh was overtaken while it waited.
    async fn refresh_unless_overtaken<V, T, E, Fut>(
        &self,
        claim: &Claim,
        place: &mut Place,
        refresh: Job<V>,
        future: Fut,
    ) where
        S: Store<V, T>,
        V: Ord + Clone + Send + Sync + 'static,
        T: Clone + Send + Sync + 'static,
        Fut: Future<Output = Result<T, E>>,
    {
        let locator = claim.locator();
        let lock = match self.store.lock_refresh(locator).await {
            Ok(Some(lock)) => Some(lock),
            Ok(None) => {
                place.end(Refresh::Elsewhere);
                return;
            }
            Err(error) => {
                self.store_error(locator, "lock", &error);
                None
            }
        };
        place.count_started();
        // Queued behind others, or behind another process, it may have been overtaken:
        // by a value current for its version written since it was scheduled (what it
        // found stale by age or by `expire` was written before).
        let superseded = match self.lookup::<V, T>(locator).await {
            Some(stored) if !stored.expired => {
                !stored.marked
                    && stored.record.made > refresh.scheduled_at
                    && self.store.is_current(
                        &stored.record,
                        &refresh.version,
                        refresh.options.fingerprint,
                    )
            }
            _ => true,
        };
        if superseded || !claim.is_valid() {
            place.end(Refresh::Completed);
        } else {
            self.generate_and_store(claim, place, refresh, future).await;
        }
        if let Some(lock) = lock {
            if let Err(error) = self.store.unlock_refresh(locator, lock).await {
                self.store_error(locator, "unlock", &error);
            }
        }
    }

    async fn generate_and_store<V, T, E, Fut>(
        &self,
        claim: &Claim,
        place: &mut Place,
        refresh: Job<V>,
        future: Fut,
    ) where
        S: Store<V, T>,
        V: Ord + Clone + Send + Sync + 'static,
        T: Clone + Send + Sync + 'static,
        Fut: Future<Output = Result<T, E>>,
    {
        let locator = claim.locator();
        claim.start();
        let mut run = Generation::refresh(&self.counters, locator, &refresh.scheduled.cause);
        let future = future.instrument(run.span.clone());
        let limit = self.worker.timeout();
        let limited = async {
            match limit {
                Some(limit) => tokio::time::timeout(limit, future).await.ok(),
                None => Some(future.await),
            }
        };
        let outcome = AssertUnwindSafe(generating(claim.flight(), false, limited))
            .catch_unwind()
            .await;
        run.ran();
        if matches!(outcome, Ok(Some(Ok(_)))) {
            self.windows.refresh_succeeded(locator);
        } else {
            claim.fail();
            if let Some((first, max)) = self.defaults.refresh_backoff {
                self.windows.refresh_failed(locator, first, max);
            }
        }
        let options = &refresh.options;
        match outcome {
            Ok(Some(Ok(value))) => {
                let record = Arc::new(Record::new(refresh.version, value, options.fingerprint));
                let write = WriteOptions {
                    expires_in: options.expires_in,
                    fail_safe: options.fail_safe,
                    since: Some(refresh.scheduled_at),
                };
                let stored = self.write(claim, &record, write).await;
                claim.complete(ErasedRecord::new(record));
                place.end(Refresh::Completed);
                if stored {
                    self.counters
                        .refresh_lag(refresh.scheduled.stale_since.elapsed());
                    run.end(Traced::Ok);
                } else {
                    run.end(Traced::Discarded);
                }
            }
            Ok(Some(Err(_))) => {
                place.end(Refresh::Failed);
                run.end(Traced::Err);
                tracing::warn!(
                    locator,
                    error_type = type_name::<E>(),
                    "background refresh failed: its generator returned an error; the stale entry stays"
                );
            }
            Ok(None) => {
                place.end(Refresh::Failed);
                run.end(Traced::Timeout);
                tracing::warn!(
                    locator,
                    limit = ?limit,
                    "background refresh timed out and was abandoned; the stale entry stays"
                );
            }
            Err(panic) => {
                place.end(Refresh::Failed);
                run.end(Traced::Panic);
                tracing::warn!(
                    locator,
                    panic = panic_message(&*panic),
                    "background refresh panicked; the stale entry stays"
                );
            }
        }
    }
}
