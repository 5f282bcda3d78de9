//! Fresh hits, side by side: ours (`Cache::fetch` and an `#[async_cached]` function)
//! against raw moka (`future` and `sync`) and `cached`'s `#[cached]` (bounded at the
//! same capacity, and its unbounded default), with the same locator strings and the
//! same value type; in one task, and in two threads contending.
//!
//! `cargo bench -p benchmarks --bench hit`

use std::hint::black_box;
use test_support::CountingAllocator;

use benchmarks::{Contenders, Hit};
use criterion::{Criterion, Throughput};

#[global_allocator]
static ALLOC: CountingAllocator = CountingAllocator::paused();

fn one_task(c: &mut Criterion) {
    let rt = benchmarks::current_thread();
    let contenders = rt.block_on(Contenders::new());
    let mut group = c.benchmark_group("hit/1-task");
    group.throughput(Throughput::Elements(1));
    for which in Hit::ALL {
        group.bench_function(which.id(), |b| {
            b.iter_custom(|iters| rt.block_on(contenders.hits(which, black_box(iters), 0)));
        });
    }
    group.finish();
}

fn two_threads(c: &mut Criterion) {
    let rt = benchmarks::current_thread();
    let contenders = rt.block_on(Contenders::new());
    let mut group = c.benchmark_group("hit/2-threads");
    // Time per hit per thread (wall time / hits of one thread).
    group.throughput(Throughput::Elements(1));
    for which in Hit::ALL {
        group.bench_function(which.id(), |b| {
            b.iter_custom(|iters| contenders.hits_threaded(which, 2, iters));
        });
    }
    group.finish();
}

/// `BENCH_PROFILE=<contender id> [BENCH_PROFILE_ITERS=n]`: only `n` hits of one
/// contender in one task, no criterion: for `valgrind --tool=callgrind`, whose
/// instruction counts of two runs with different `n` give instructions per hit.
fn profile(id: &str) {
    let which = Hit::ALL
        .into_iter()
        .find(|w| w.id() == id)
        .unwrap_or_else(|| panic!("BENCH_PROFILE: no contender {id:?}"));
    let iters = benchmarks::profile_iters();
    let rt = benchmarks::current_thread();
    let contenders = rt.block_on(Contenders::new());
    let elapsed = rt.block_on(contenders.hits(which, iters, 0));
    eprintln!("{id}: {iters} hits in {elapsed:?}");
}

fn main() {
    if let Ok(id) = std::env::var("BENCH_PROFILE") {
        return profile(&id);
    }
    let mut c = Criterion::default().configure_from_args();
    one_task(&mut c);
    two_threads(&mut c);
    c.final_summary();
}
