//! The Redis tier: a hit against a raw redis `GET` of the same payload through the
//! same crate, and a near-cache hit. Starts its own `redis-server` (on PATH) on a free
//! loopback port, as the Redis tests do.
//!
//! `cargo bench -p benchmarks --features redis --bench redis`

use std::time::Duration;
use test_support::CountingAllocator;

use benchmarks::redis_tier::{RedisContenders, RedisHit};
use criterion::Criterion;
use test_support::RedisServer;

#[global_allocator]
static ALLOC: CountingAllocator = CountingAllocator::paused();

fn main() {
    let mut c = Criterion::default().configure_from_args();
    let server = match RedisServer::try_start() {
        Ok(server) => server,
        Err(error) => {
            eprintln!("redis bench skipped: {error}");
            return;
        }
    };
    let rt = benchmarks::multi_thread(2);
    let mut contenders = rt.block_on(RedisContenders::new(
        &server.url(),
        benchmarks::redis_tier::REDIS_VALUE_BYTES,
    ));
    let mut group = c.benchmark_group("redis");
    for which in RedisHit::ALL {
        group.bench_function(which.id(), |b| {
            b.iter_custom(|iters| {
                let h = rt.block_on(contenders.hits(which, iters as usize));
                Duration::from_nanos((h.mean() * h.len() as f64) as u64)
            });
        });
    }
    group.finish();
    c.final_summary();
    drop(server);
}
