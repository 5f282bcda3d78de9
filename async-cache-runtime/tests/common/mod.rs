//! Helpers shared by the integration tests: counters and gates that let a test hold a
//! generator at a known point instead of sleeping.
#![allow(dead_code)]

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::time::Duration;

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
            let payload = info.payload();
            let message = payload
                .downcast_ref::<&str>()
                .copied()
                .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
                .unwrap_or("");
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
