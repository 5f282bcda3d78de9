//! A tiny program for `valgrind --tool=callgrind`: `n` reads of one contender of
//! `benchmarks::time` in one task, after its setup. The instructions per read are
//! `(count(2n) - count(n)) / n`, the setup cancelling out.
//!
//! ```text
//! cargo build --release -p benchmarks --bin time_profile
//! valgrind --tool=callgrind target/release/time_profile plain 100000
//! ```
//!
//! Contenders: `plain`, `refresh_after`, `plain_try`, `timed_try`, `fail_safe_throttled`.

use benchmarks::time::{TimeContenders, TimeHit};

fn main() {
    let mut args = std::env::args().skip(1);
    let id = args.next().unwrap_or_else(|| "plain".into());
    let which = TimeHit::ALL
        .into_iter()
        .find(|w| w.id() == id)
        .unwrap_or_else(|| {
            panic!(
                "no contender {id:?}: one of plain, refresh_after, plain_try, timed_try, fail_safe_throttled"
            )
        });
    let iters: u64 = args
        .next()
        .map(|n| n.parse().expect("a number of reads"))
        .unwrap_or(100_000);
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
