//! The hit counter: the one counter of the hot path.
//!
//! Spread over padded stripes so that threads serving hits at once never share a
//! cache line, and most stripes have one writer, which counts with a plain load and
//! store: an atomic read-modify-write is a good part of what a fresh hit costs. A
//! thread takes a stripe of its own for its life (given back when it ends, for the
//! next thread), while there is one; past that, threads share the last stripes, on
//! which they count with `fetch_add`.

use std::cell::Cell;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Mutex, PoisonError};

/// Stripes with one writer each.
const OWNED: usize = 16;

/// Stripes for the threads beyond those, shared.
const SHARED: usize = 4;

#[repr(align(128))]
#[derive(Default)]
struct Padded(AtomicU64);

/// The hits of one cache.
#[derive(Default)]
pub(crate) struct Hits([Padded; OWNED + SHARED]);

impl Hits {
    #[inline]
    pub(crate) fn count(&self) {
        match STRIPE.with(Cell::get) {
            Stripe::Unknown => {
                STRIPE.with(|stripe| stripe.set(Owner::stripe()));
                self.count();
            }
            Stripe::Owned(owned) => {
                // No other thread writes this stripe, in any cache: a load and a
                // store lose nothing.
                let hits = &self.0[owned].0;
                hits.store(hits.load(Relaxed) + 1, Relaxed);
            }
            Stripe::Shared(shared) => {
                self.0[OWNED + shared].0.fetch_add(1, Relaxed);
            }
        }
    }

    pub(crate) fn total(&self) -> u64 {
        self.0.iter().map(|stripe| stripe.0.load(Relaxed)).sum()
    }
}

/// The stripe a thread counts on: its own (given back when the thread ends), or a
/// shared one.
#[derive(Clone, Copy)]
enum Stripe {
    /// Not asked for yet.
    Unknown,
    Owned(usize),
    Shared(usize),
}

/// Gives the thread's own stripe back when it ends.
struct Owner(Stripe);

/// Stripes no living thread owns. A stripe given back is taken again under this
/// lock, which orders the ended thread's last count before the next owner's first.
static FREE: Mutex<Vec<usize>> = Mutex::new(Vec::new());

thread_local! {
    /// Read on every hit: without a destructor, so without a check of its state.
    static STRIPE: Cell<Stripe> = const { Cell::new(Stripe::Unknown) };
    static OWNER: Owner = Owner::take();
}

impl Owner {
    /// This thread's stripe. Once the thread is ending (its owner dropped), a
    /// shared one.
    fn stripe() -> Stripe {
        OWNER.try_with(|owner| owner.0).unwrap_or(Stripe::Shared(0))
    }

    fn take() -> Self {
        use std::sync::atomic::AtomicUsize;
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let mut free = FREE.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(stripe) = free.pop() {
            return Owner(Stripe::Owned(stripe));
        }
        // Under the lock: `NEXT` only counts.
        let next = NEXT.load(Relaxed);
        NEXT.store(next + 1, Relaxed);
        Owner(if next < OWNED {
            Stripe::Owned(next)
        } else {
            Stripe::Shared(next % SHARED)
        })
    }
}

impl Drop for Owner {
    fn drop(&mut self) {
        // Whatever this thread still counts (another thread-local's destructor)
        // goes to a shared stripe: the next owner may have this one already.
        let _ = STRIPE.try_with(|stripe| stripe.set(Stripe::Shared(0)));
        if let Stripe::Owned(stripe) = self.0 {
            FREE.lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push(stripe);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    /// More threads than owned stripes, counting at once, some ending and others
    /// taking their stripes: every hit is counted.
    #[test]
    fn every_hit_counts_past_the_owned_stripes_and_across_thread_ends() {
        let hits = Arc::new(Hits::default());
        for _ in 0..3 {
            let threads: Vec<_> = (0..OWNED + 8)
                .map(|_| {
                    let hits = Arc::clone(&hits);
                    std::thread::spawn(move || (0..10_000).for_each(|_| hits.count()))
                })
                .collect();
            threads.into_iter().for_each(|t| t.join().unwrap());
        }
        assert_eq!(hits.total(), 3 * (OWNED as u64 + 8) * 10_000);
    }
}
