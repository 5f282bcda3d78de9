//! What the options of time and failure cost a read: a fresh hit with no option set
//! against one with `refresh_after` set, and a fail-safe answer during an outage
//! (throttled: no generator call) against a `try_fetch` hit.
//!
//! `cargo bench -p benchmarks --bench time`

use std::hint::black_box;

use benchmarks::time::{TimeContenders, TimeHit};
use criterion::{Criterion, Throughput};

fn one_task(c: &mut Criterion) {
    let rt = benchmarks::current_thread();
    let contenders = rt.block_on(TimeContenders::new());
    let mut group = c.benchmark_group("time/1-task");
    group.throughput(Throughput::Elements(1));
    for which in TimeHit::ALL {
        group.bench_function(which.id(), |b| {
            b.iter_custom(|iters| rt.block_on(contenders.reads(which, black_box(iters), 0)));
        });
    }
    group.finish();
    assert_eq!(
        contenders
            .outage_calls
            .load(std::sync::atomic::Ordering::Relaxed),
        0,
        "a throttled fail-safe answer calls no generator"
    );
}

/// `BENCH_PROFILE=<contender id> [BENCH_PROFILE_ITERS=n]`: only `n` reads of one
/// contender in one task, no criterion: for `valgrind --tool=callgrind`, whose
/// instruction counts of two runs with different `n` give instructions per read.
fn profile(id: &str) {
    let which = TimeHit::ALL
        .into_iter()
        .find(|w| w.id() == id)
        .unwrap_or_else(|| panic!("BENCH_PROFILE: no contender {id:?}"));
    let iters = benchmarks::profile_iters();
    let rt = benchmarks::current_thread();
    let contenders = rt.block_on(TimeContenders::new());
    let elapsed = rt.block_on(contenders.reads(which, iters, 0));
    assert_eq!(
        contenders
            .outage_calls
            .load(std::sync::atomic::Ordering::Relaxed),
        0,
        "a throttled fail-safe answer calls no generator"
    );
    eprintln!("{id}: {iters} reads in {elapsed:?}");
}

fn main() {
    if let Ok(id) = std::env::var("BENCH_PROFILE") {
        return profile(&id);
    }
    let mut c = Criterion::default().configure_from_args();
    one_task(&mut c);
    c.final_summary();
}
