//! A counting global allocator: the system allocator plus bookkeeping, for tests that
//! assert what allocates (a fresh hit allocates nothing of its own), soaks that bound
//! peak memory, and benchmarks that report bytes per entry.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::atomic::{AtomicBool, AtomicIsize, Ordering::Relaxed};

thread_local! {
    // No destructor and a const initializer: touching it from the allocator never
    // allocates, and `try_with` fails quietly while the thread is being torn down.
    static THREAD_ALLOCATIONS: Cell<u64> = const { Cell::new(0) };
}

/// Forwards to [`System`] and, while counting, keeps three figures: allocations made
/// by each thread, live heap bytes and their peak.
///
/// Install it as the binary's global allocator and read the figures off the static:
///
/// ```
/// use test_support::CountingAllocator;
///
/// #[global_allocator]
/// static ALLOCATOR: CountingAllocator = CountingAllocator::new();
///
/// let before = ALLOCATOR.thread_allocations();
/// let boxed = std::hint::black_box(Box::new([0_u8; 64]));
/// assert_eq!(ALLOCATOR.thread_allocations(), before + 1);
/// drop(boxed);
///
/// let ((), live) = ALLOCATOR.live_bytes_after(|| std::mem::forget(vec![0_u8; 1000]));
/// assert!(live >= 1000);
/// ```
///
/// Bytes are those requested (`Layout::size`), not what the system allocator rounds
/// them up to. Live bytes are counted from when counting began, so they are signed:
/// freeing memory allocated before makes them go down, even below zero.
#[derive(Debug)]
pub struct CountingAllocator {
    counting: AtomicBool,
    live: AtomicIsize,
    peak: AtomicIsize,
}

impl CountingAllocator {
    /// Counts from the binary's first allocation (tests, soaks).
    pub const fn new() -> Self {
        Self::with_counting(true)
    }

    /// Counts nothing until [`resume`](Self::resume) or
    /// [`live_bytes_after`](Self::live_bytes_after): while paused an allocation costs
    /// one relaxed load more than the system allocator (benchmarks that time
    /// allocating code).
    pub const fn paused() -> Self {
        Self::with_counting(false)
    }

    const fn with_counting(counting: bool) -> Self {
        CountingAllocator {
            counting: AtomicBool::new(counting),
            live: AtomicIsize::new(0),
            peak: AtomicIsize::new(0),
        }
    }

    /// Starts (or goes on) counting.
    pub fn resume(&self) {
        self.counting.store(true, Relaxed);
    }

    /// Stops counting; the figures keep their values.
    pub fn pause(&self) {
        self.counting.store(false, Relaxed);
    }

    /// Allocations (including reallocations) the calling thread made while counting.
    pub fn thread_allocations(&self) -> u64 {
        THREAD_ALLOCATIONS.with(Cell::get)
    }

    /// Heap bytes allocated and not yet freed, over the time counting was on.
    pub fn live_bytes(&self) -> isize {
        self.live.load(Relaxed)
    }

    /// The most [`live_bytes`](Self::live_bytes) has been since the last
    /// [`reset_peak`](Self::reset_peak).
    pub fn peak_bytes(&self) -> isize {
        self.peak.load(Relaxed)
    }

    /// Starts a new peak from the live bytes now; returns them (a run's baseline).
    pub fn reset_peak(&self) -> isize {
        let live = self.live_bytes();
        self.peak.store(live, Relaxed);
        live
    }

    /// Runs `f` with counting on and returns its result with the live bytes it left
    /// (allocated and not freed, by any thread, while it ran). Counting is then back
    /// as it was.
    pub fn live_bytes_after<R>(&self, f: impl FnOnce() -> R) -> (R, isize) {
        let was_counting = self.counting.swap(true, Relaxed);
        let before = self.live_bytes();
        let result = f();
        let after = self.live_bytes();
        self.counting.store(was_counting, Relaxed);
        (result, after - before)
    }

    fn grew(&self, bytes: isize) {
        let live = self.live.fetch_add(bytes, Relaxed) + bytes;
        self.peak.fetch_max(live, Relaxed);
        let _ = THREAD_ALLOCATIONS.try_with(|n| n.set(n.get() + 1));
    }
}

impl Default for CountingAllocator {
    fn default() -> Self {
        Self::new()
    }
}

// SAFETY: every method forwards to the system allocator with the caller's arguments
// and returns its answer unchanged; the bookkeeping around it does not allocate.
unsafe impl GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller upholds `GlobalAlloc::alloc`'s contract.
        let ptr = unsafe { System.alloc(layout) };
        if !ptr.is_null() && self.counting.load(Relaxed) {
            self.grew(layout.size() as isize);
        }
        ptr
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller upholds `GlobalAlloc::alloc_zeroed`'s contract.
        let ptr = unsafe { System.alloc_zeroed(layout) };
        if !ptr.is_null() && self.counting.load(Relaxed) {
            self.grew(layout.size() as isize);
        }
        ptr
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: the caller upholds `GlobalAlloc::dealloc`'s contract.
        unsafe { System.dealloc(ptr, layout) };
        if self.counting.load(Relaxed) {
            self.live.fetch_sub(layout.size() as isize, Relaxed);
        }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: the caller upholds `GlobalAlloc::realloc`'s contract.
        let new = unsafe { System.realloc(ptr, layout, new_size) };
        if !new.is_null() && self.counting.load(Relaxed) {
            self.grew(new_size as isize - layout.size() as isize);
        }
        new
    }
}
