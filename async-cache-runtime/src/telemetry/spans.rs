//! The `async_cache.generate` span: around every generator run and only those, so a
//! `tracing-opentelemetry` subscriber exports each run as a trace span.

use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;
use tracing::Span;

use super::Kind;
use crate::stats::Counters;

/// How a generator run ended: the span's `outcome` field.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Outcome {
    Ok,
    Err,
    Panic,
    Timeout,
    /// Returned `Ok`, but not stored: invalidated or superseded meanwhile.
    Discarded,
}

impl Outcome {
    fn as_str(self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::Err => "err",
            Outcome::Panic => "panic",
            Outcome::Timeout => "timeout",
            Outcome::Discarded => "discarded",
        }
    }
}

/// One generator run: its span, and its time for `async_cache_generation_seconds`,
/// recorded once whatever the outcome (a run whose caller was cancelled counts on
/// drop, with no outcome).
pub(crate) struct Generation {
    pub(crate) span: Span,
    // Owned, so that a run can go on in a task of its own (a soft timeout).
    counters: Arc<Counters>,
    kind: Kind,
    started: Instant,
    ran: Option<Duration>,
}

impl Generation {
    /// A run in the caller: a child of the caller's current span.
    pub(crate) fn in_caller(counters: &Arc<Counters>, locator: &str, kind: Kind) -> Self {
        let span = tracing::info_span!(
            target: "async_cache_runtime",
            "async_cache.generate",
            cache = counters.name(),
            locator,
            kind = kind.as_str(),
            outcome = tracing::field::Empty,
        );
        Self::new(span, counters, kind)
    }

    /// A background refresh: a root span that follows from `cause`, the span current
    /// at the stale read that scheduled it.
    pub(crate) fn refresh(counters: &Arc<Counters>, locator: &str, cause: &Span) -> Self {
        let span = tracing::info_span!(
            target: "async_cache_runtime",
            parent: None,
            "async_cache.generate",
            cache = counters.name(),
            locator,
            kind = Kind::Refresh.as_str(),
            outcome = tracing::field::Empty,
        );
        span.follows_from(cause);
        Self::new(span, counters, Kind::Refresh)
    }

    fn new(span: Span, counters: &Arc<Counters>, kind: Kind) -> Self {
        Generation {
            span,
            counters: counters.clone(),
            kind,
            started: Instant::now(),
            ran: None,
        }
    }

    /// The generator has returned (or panicked): its time is taken now, before the
    /// store write, which is not the generator's.
    pub(crate) fn ran(&mut self) {
        if self.ran.is_none() {
            let ran = self.started.elapsed();
            self.counters.generation(self.kind, ran);
            self.ran = Some(ran);
        }
    }

    /// Records the outcome on the span (and the time, if not yet).
    pub(crate) fn end(mut self, outcome: Outcome) {
        self.ran();
        self.span.record("outcome", outcome.as_str());
    }
}

impl Drop for Generation {
    fn drop(&mut self) {
        self.ran();
    }
}
