//! Which reads answered by the front also read moka, so that moka's admission
//! (TinyLFU: a frequency sketch, and the order of its deques) still sees what is hot.
//!
//! Reading moka on every hit is what the front exists to avoid; reading it on a fixed
//! sample of hits starves the sketch: measured on a Zipf-like trace past capacity, one
//! hit in 16 lost moka a few points of hit ratio, because a key that moka saw miss
//! once outweighed one it saw hit a dozen times. The sketch's counters saturate and
//! are halved every period of reads, so what it needs of a hot key is its first few
//! reads in each period, not all of them: each slot's first [`FIRST`] front hits of
//! every period read moka, and after those one hit in [`SAMPLE`] does. A period is
//! counted in moka reads, a multiple of the capacity, as moka's own is.

use std::cell::Cell;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering::Relaxed};

/// Front hits of a slot per period that read moka.
const FIRST: u32 = 2;

/// A period is this many times the capacity in moka reads: long enough for every
/// resident slot's first hits, short enough to follow the sketch's halving.
const PERIOD: u64 = 2;

/// After those, one front hit in this many does. A power of two: the test is a mask.
const SAMPLE: u32 = 64;

thread_local! {
    /// Per thread, so that hits on two threads never share a cache line.
    static HITS: Cell<u32> = const { Cell::new(0) };
}

/// The period clock of one slot map.
pub(crate) struct Touches {
    /// Moka reads so far.
    reads: AtomicU64,
    /// A period is `1 << shift` moka reads.
    shift: u32,
}

/// A slot's record of its touches: the period (low 24 bits of it) and how many of its
/// hits in that period read moka. Written only on those few hits, so the hits that
/// do not touch read a line no one writes.
#[derive(Default)]
pub(crate) struct Touched(AtomicU32);

impl Touches {
    pub(crate) fn new(max_capacity: u64) -> Self {
        Touches {
            reads: AtomicU64::new(0),
            shift: max_capacity
                .saturating_mul(PERIOD)
                .clamp(1 << 14, 1 << 50)
                .next_power_of_two()
                .trailing_zeros(),
        }
    }

    /// Whether this front hit of the slot `touched` should also read moka.
    #[inline]
    pub(crate) fn wants(&self, touched: &Touched) -> bool {
        let period = ((self.reads.load(Relaxed) >> self.shift) as u32) & 0x00FF_FFFF;
        let seen = touched.0.load(Relaxed);
        if seen >> 8 == period {
            if seen & 0xFF >= FIRST {
                return sample();
            }
            touched.0.store(seen + 1, Relaxed);
        } else {
            touched.0.store(period << 8 | 1, Relaxed);
        }
        true
    }

    /// Counts a moka read, which moves the period on.
    #[inline]
    pub(crate) fn count(&self) {
        self.reads.fetch_add(1, Relaxed);
    }
}

#[inline]
fn sample() -> bool {
    HITS.with(|hits| {
        let n = hits.get().wrapping_add(1);
        hits.set(n);
        n & (SAMPLE - 1) == 0
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_slots_first_hits_of_each_period_touch_then_a_sample() {
        let touches = Touches::new(1);
        let slot = Touched::default();
        let wanted = |n: u32| (0..n).filter(|_| touches.wants(&slot)).count() as u32;
        assert_eq!(wanted(FIRST), FIRST, "the first hits of a period all touch");
        let sampled = wanted(SAMPLE * 8);
        assert!(
            (7..=9).contains(&sampled),
            "then one in {SAMPLE}: {sampled} of {}",
            SAMPLE * 8
        );
        for _ in 0..1_u64 << touches.shift {
            touches.count();
        }
        assert_eq!(wanted(FIRST), FIRST, "a new period starts the count again");
    }
}
