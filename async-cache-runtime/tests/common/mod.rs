//! Helpers shared by the integration tests: counters and gates that let a test hold a
//! generator at a known point instead of sleeping.
#![allow(dead_code)]

use std::future::Future;
use std::pin::pin;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Condvar, Mutex};
use std::task::Poll;
use std::time::{Duration, Instant};

use tokio::sync::watch;

/// Counts generator runs.
#[derive(Clone, Default)]
pub struct Counter(Arc<AtomicUsize>);

impl Counter {
    pub fn new() -> Self {
        Self::default()
    }
    pub fn bump(&self) -> usize {
        self.0.fetch_add(1, SeqCst) + 1
    }
    pub fn get(&self) -> usize {
        self.0.load(SeqCst)
    }
}

/// A one-way latch: closed until `open`, then open for good.
#[derive(Clone)]
pub struct Gate(Arc<watch::Sender<bool>>);

impl Default for Gate {
    fn default() -> Self {
        Gate(Arc::new(watch::Sender::new(false)))
    }
}

impl Gate {
    pub fn new() -> Self {
        Self::default()
    }
    pub fn open(&self) {
        self.0.send_replace(true);
    }
    pub fn is_open(&self) -> bool {
        *self.0.borrow()
    }
    pub async fn wait(&self) {
        let mut rx = self.0.subscribe();
        rx.wait_for(|open| *open)
            .await
            .expect("sender lives in self");
    }
}

/// Counts callers that have parked: whose fetch returned `Pending` for the first time
/// (see [`parked`]). A test waits for `n` of them instead of sleeping "long enough"
/// for them to get there. Works inside tokio and on plain threads.
#[derive(Clone, Default)]
pub struct Arrivals(Arc<ArrivalsInner>);

#[derive(Default)]
struct ArrivalsInner {
    count: Mutex<usize>,
    changed: Condvar,
    notify: tokio::sync::Notify,
}

impl Arrivals {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn arrive(&self) {
        *self.0.count.lock().unwrap() += 1;
        self.0.changed.notify_all();
        self.0.notify.notify_waiters();
    }

    pub fn get(&self) -> usize {
        *self.0.count.lock().unwrap()
    }

    /// Resolves once `n` have arrived.
    pub async fn wait_for(&self, n: usize) {
        loop {
            // Registered before the check, so an arrival in between is not missed.
            let mut notified = pin!(self.0.notify.notified());
            notified.as_mut().enable();
            if self.get() >= n {
                return;
            }
            notified.await;
        }
    }

    /// Blocks this thread until `n` have arrived (for generators run outside tokio).
    ///
    /// # Panics
    ///
    /// After 30 s, rather than hang the test.
    pub fn wait_for_blocking(&self, n: usize) {
        let deadline = Instant::now() + Duration::from_secs(30);
        let mut count = self.0.count.lock().unwrap();
        while *count < n {
            let left = deadline.saturating_duration_since(Instant::now());
            assert!(!left.is_zero(), "{} of {n} arrived after 30 s", *count);
            count = self.0.changed.wait_timeout(count, left).unwrap().0;
        }
    }
}

/// Runs `future`, counting an arrival the first time a poll of it returns `Pending`.
///
/// A fetch from the memory store reads it without waiting, so a fetch that returns
/// `Pending` waits on a generation: its own generator, or another caller's it joined.
/// Were that ever not so, the test would not pass vacuously: a caller that went on to
/// generate on its own shows in the test's run counts.
pub async fn parked<F: Future>(future: F, arrivals: &Arrivals) -> F::Output {
    let mut future = pin!(future);
    let mut arrived = false;
    std::future::poll_fn(|cx| match future.as_mut().poll(cx) {
        Poll::Pending if !arrived => {
            arrived = true;
            arrivals.arrive();
            Poll::Pending
        }
        other => other,
    })
    .await
}

/// Fails the test instead of hanging it: every await that could deadlock goes
/// through this, with a margin far beyond what the work needs.
pub async fn within<F: Future>(what: &str, future: F) -> F::Output {
    tokio::time::timeout(Duration::from_secs(30), future)
        .await
        .unwrap_or_else(|_| panic!("{what}: still pending after 30 s"))
}

/// Silences the panic hook for panics that a test plans (their message contains
/// `planned panic`); any other panic is reported as usual.
pub fn quiet_planned_panics() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let default = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let message = async_cache_runtime::__private::panic_message(info.payload());
            if !message.contains("planned panic") {
                default(info);
            }
        }));
    });
}

/// A generated value that says where it came from: `locator@version#generation`.
pub fn provenance(locator: &str, version: u32, generation: u64) -> String {
    format!("{locator}@{version}#{generation}")
}

/// The parts of a [`provenance`] value: locator, version, generation.
pub fn parse_provenance(value: &str) -> Option<(&str, u32, u64)> {
    let (locator, rest) = value.rsplit_once('@')?;
    let (version, generation) = rest.split_once('#')?;
    Some((locator, version.parse().ok()?, generation.parse().ok()?))
}
