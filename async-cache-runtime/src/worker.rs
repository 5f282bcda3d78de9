//! The background refresh worker: where refreshes run, how many at once, and how many
//! may wait. Refreshes are tokio tasks; bounds are a semaphore (running) and a counter
//! (running + queued), so a full worker drops a refresh instead of growing.

use std::pin::pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::time::Duration;

use tokio::runtime::Handle;
use tokio::sync::{Notify, Semaphore, oneshot};

use crate::stats::Counters;
use crate::telemetry::Refresh;

pub(crate) struct Worker {
    runtime: Option<Handle>,
    /// Cleared when the builder's runtime shuts down (see [`RuntimeSentinel`]).
    runtime_alive: Arc<AtomicBool>,
    concurrency: usize,
    running: Semaphore,
    /// Refreshes queued or running, at most `capacity`.
    pending: AtomicUsize,
    /// Generations gone on past their caller's soft timeout: waited for by `idle`,
    /// but taking no place.
    continuing: AtomicUsize,
    capacity: usize,
    idle: Notify,
    timeout: Option<Duration>,
    /// Dropped with the worker, which ends the sentinel's task: a cache dropped
    /// leaves no task behind on the builder's runtime.
    _sentinel_stop: Option<oneshot::Sender<()>>,
}

/// A place in the worker, taken before a refresh is spawned. Dropping it, whether the
/// refresh finished or its task was dropped unrun, gives the place back.
pub(crate) struct Place {
    worker: Arc<Worker>,
    counters: Arc<Counters>,
    /// Holds a running place (a semaphore permit, given back on drop).
    running: bool,
    /// Handed to a task: from then on, a drop unstarted means that task was dropped.
    spawned: bool,
    /// Counted in `refreshes_started`: from then on it must end counted too.
    counted: bool,
    /// Its outcome is counted: nothing more to count.
    finished: bool,
}

/// Lives in a task on the builder's runtime that runs as long as the worker, so it is
/// dropped when that runtime shuts down (the one signal tokio gives of it) or when the
/// worker is gone, whichever comes first.
struct RuntimeSentinel(Arc<AtomicBool>);

impl Drop for RuntimeSentinel {
    fn drop(&mut self) {
        self.0.store(false, SeqCst);
    }
}

impl Worker {
    pub(crate) fn new(
        runtime: Option<Handle>,
        concurrency: usize,
        queue_capacity: usize,
        timeout: Option<Duration>,
    ) -> Arc<Self> {
        let runtime_alive = Arc::new(AtomicBool::new(true));
        let sentinel_stop = runtime.as_ref().map(|runtime| {
            let sentinel = RuntimeSentinel(runtime_alive.clone());
            let (stop, stopped) = oneshot::channel::<()>();
            drop(runtime.spawn(async move {
                let _sentinel = sentinel;
                let _ = stopped.await;
            }));
            stop
        });
        Arc::new(Worker {
            runtime,
            runtime_alive,
            concurrency,
            running: Semaphore::new(concurrency.min(Semaphore::MAX_PERMITS)),
            pending: AtomicUsize::new(0),
            continuing: AtomicUsize::new(0),
            capacity: concurrency.saturating_add(queue_capacity),
            idle: Notify::new(),
            timeout,
            _sentinel_stop: sentinel_stop,
        })
    }

    /// Where a background refresh can run now, if anywhere: the builder's runtime
    /// while it is alive, else the caller's current tokio runtime.
    pub(crate) fn runtime(&self) -> Option<Handle> {
        if self.concurrency == 0 {
            return None;
        }
        match &self.runtime {
            Some(runtime) => self.runtime_alive.load(SeqCst).then(|| runtime.clone()),
            None => Handle::try_current().ok(),
        }
    }

    /// The longest a refresh may run, if limited.
    pub(crate) fn timeout(&self) -> Option<Duration> {
        self.timeout
    }

    /// Takes a place in the worker, or `None` when concurrency and queue are full.
    pub(crate) fn reserve(self: &Arc<Self>, counters: &Arc<Counters>) -> Option<Place> {
        self.pending
            .fetch_update(SeqCst, SeqCst, |n| (n < self.capacity).then_some(n + 1))
            .ok()?;
        counters.refresh_queued();
        Some(Place {
            worker: self.clone(),
            counters: counters.clone(),
            running: false,
            spawned: false,
            counted: false,
            finished: false,
        })
    }

    /// Resolves once no refresh is queued or running, nor any generation gone on
    /// past a soft timeout.
    pub(crate) async fn idle(&self) {
        loop {
            let mut notified = pin!(self.idle.notified());
            notified.as_mut().enable();
            if self.pending.load(SeqCst) == 0 && self.continuing.load(SeqCst) == 0 {
                return;
            }
            notified.await;
        }
    }

    pub(crate) fn continuation_started(&self) {
        self.continuing.fetch_add(1, SeqCst);
    }

    pub(crate) fn continuation_ended(&self) {
        if self.continuing.fetch_sub(1, SeqCst) == 1 {
            self.idle.notify_waiters();
        }
    }
}

impl Place {
    /// Waits in the queue for a running place.
    pub(crate) async fn start(&mut self) {
        self.worker
            .running
            .acquire()
            .await
            .expect("the refresh semaphore is never closed")
            .forget();
        self.running = true;
        self.counters.refresh_running();
    }

    /// Counts the refresh in `refreshes_started`.
    pub(crate) fn count_started(&mut self) {
        self.counters.refresh(Refresh::Started);
        self.counted = true;
    }

    /// Hands an ended refresh's place to the one that trails it (contract §6.5): the
    /// running place goes back to the semaphore, behind the refreshes already queued,
    /// but the place itself is never given up, so `wait_for_refreshes` waits for both
    /// and the bound holds (a full worker does not drop a trailing refresh).
    pub(crate) fn requeue(&mut self) {
        debug_assert!(!self.counted || self.finished, "its outcome is counted");
        if self.running {
            self.worker.running.add_permits(1);
            self.running = false;
            self.counters.refresh_left(true);
            self.counters.refresh_queued();
        }
        self.spawned = false;
        self.counted = false;
        self.finished = false;
    }

    /// The place is about to move into the refresh's task.
    pub(crate) fn spawning(&mut self) {
        self.spawned = true;
    }

    /// The refresh's outcome: counts it (completed, failed or elsewhere), once, so
    /// that a shutdown after this cannot count it failed as well.
    pub(crate) fn end(&mut self, outcome: Refresh) {
        if !self.finished {
            self.counters.refresh(outcome);
            self.finished = true;
        }
    }
}

impl Drop for Place {
    fn drop(&mut self) {
        if self.running {
            self.worker.running.add_permits(1);
        }
        self.counters.refresh_left(self.running);
        if self.counted && !self.finished {
            // Dropped mid-run: its runtime shut down under it.
            self.counters.refresh(Refresh::Failed);
            tracing::warn!("background refresh abandoned: its runtime shut down");
        }
        if self.spawned && !self.running {
            // A refresh task is only ever dropped unstarted by its runtime shutting
            // down: spawned onto a closed runtime, or dropped from the queue. If that
            // is the builder's runtime, it is gone for good, sentinel or not.
            self.counters.refresh(Refresh::Dropped);
            if self.worker.runtime.is_some() {
                self.worker.runtime_alive.store(false, SeqCst);
            }
        }
        if self.worker.pending.fetch_sub(1, SeqCst) == 1 {
            self.worker.idle.notify_waiters();
        }
    }
}
