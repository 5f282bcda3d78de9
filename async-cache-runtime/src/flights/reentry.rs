//! Which flights the current task is generating, so that a generator that fetches its
//! own locator in a way that would join its own generation gets a panic naming the
//! locator instead of waiting on itself forever (contract §2.12).

use std::future::Future;
use std::sync::Arc;

use super::Flight;

tokio::task_local! {
    static GENERATING: Option<Arc<Frame>>;
}

/// One generation of this task, inside those it was started from.
struct Frame {
    flight: Arc<Flight>,
    parent: Option<Arc<Frame>>,
}

/// Runs `generation` as the generation of `flight`. A generation in the caller is
/// nested in the caller's own (`nested`); a background refresh runs in a task of its
/// own, where no caller waits on it.
pub(crate) fn generating<F: Future>(
    flight: &Arc<Flight>,
    nested: bool,
    generation: F,
) -> impl Future<Output = F::Output> {
    let parent = if nested {
        GENERATING.try_with(Clone::clone).ok().flatten()
    } else {
        None
    };
    let frame = Frame {
        flight: flight.clone(),
        parent,
    };
    GENERATING.scope(Some(Arc::new(frame)), generation)
}

/// Whether the current task is generating `flight`, so that waiting on it would be
/// waiting on itself.
pub(crate) fn is_generating(flight: &Arc<Flight>) -> bool {
    GENERATING
        .try_with(|frame| {
            let mut frame = frame.as_deref();
            while let Some(f) = frame {
                if Arc::ptr_eq(&f.flight, flight) {
                    return true;
                }
                frame = f.parent.as_deref();
            }
            false
        })
        .unwrap_or(false)
}
