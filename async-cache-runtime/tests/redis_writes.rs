//! The shared tier's writes and reads under load and at the edges (issue 11, items
//! 8 and 9): no caller waits behind other callers' writes, an expiry too long for
//! Redis is none, and reads never carry a value over `max_value_bytes`. Against a
//! real `redis-server`.
#![cfg(feature = "redis")]

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_cache_runtime::{Cache, FetchOptions, Redis, Served};
use test_support::RedisServer;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Mutex, Notify};

/// A TCP proxy in front of the server that delays every byte by `delay` each way
/// (latency, not a throughput limit): a slow network, as far as the cache can tell.
async fn latency_proxy(upstream: u16, delay: Duration) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        loop {
            let Ok((client, _)) = listener.accept().await else {
                return;
            };
            let Ok(server) = TcpStream::connect(("127.0.0.1", upstream)).await else {
                return;
            };
            let (client_read, client_write) = client.into_split();
            let (server_read, server_write) = server.into_split();
            tokio::spawn(delayed_pipe(client_read, server_write, delay));
            tokio::spawn(delayed_pipe(server_read, client_write, delay));
        }
    });
    port
}

async fn delayed_pipe(
    from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    delay: Duration,
) {
    let queue = Arc::new(Mutex::new(VecDeque::<(Instant, Vec<u8>)>::new()));
    let queued = Arc::new(Notify::new());
    let writer = {
        let (queue, queued) = (queue.clone(), queued.clone());
        tokio::spawn(async move {
            loop {
                let next = queue.lock().await.pop_front();
                match next {
                    Some((due, bytes)) => {
                        tokio::time::sleep_until(due.into()).await;
                        if write_all(&mut to, &bytes).await.is_err() {
                            return;
                        }
                    }
                    None => queued.notified().await,
                }
            }
        })
    };
    let mut buffer = vec![0; 64 * 1024];
    loop {
        if from.readable().await.is_err() {
            break;
        }
        let n = match from.try_read(&mut buffer) {
            Ok(0) => break,
            Ok(n) => n,
            Err(error) if error.kind() == std::io::ErrorKind::WouldBlock => continue,
            Err(_) => break,
        };
        queue
            .lock()
            .await
            .push_back((Instant::now() + delay, buffer[..n].to_vec()));
        queued.notify_one();
    }
    writer.abort();
}

/// `write_all` without tokio's `io-util`: readiness, then non-blocking writes.
async fn write_all(
    to: &mut tokio::net::tcp::OwnedWriteHalf,
    mut bytes: &[u8],
) -> std::io::Result<()> {
    while !bytes.is_empty() {
        to.writable().await?;
        match to.try_write(bytes) {
            Ok(n) => bytes = &bytes[n..],
            Err(error) if error.kind() == std::io::ErrorKind::WouldBlock => {}
            Err(error) => return Err(error),
        }
    }
    Ok(())
}

/// Issue 11, item 8: one of 64 stripe locks was held across a write's round trips,
/// so over a slow link the misses of the locators sharing a stripe were written one
/// after another: the last caller of a stripe waited for all the others' writes,
/// far past the command timeout. Each miss's caller must wait for its own round
/// trips only.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_callers_wait_for_a_write_is_bounded_by_the_command_timeout() {
    const ONE_WAY: Duration = Duration::from_millis(30);
    const TIMEOUT: Duration = Duration::from_millis(500);
    const CALLERS: usize = 1_000;
    let server = RedisServer::start();
    let port = latency_proxy(server.port(), ONE_WAY).await;
    let cache: Cache<Redis> = Cache::builder()
        .redis(&format!("redis://127.0.0.1:{port}/"))
        .key_prefix("writes:")
        .command_timeout(TIMEOUT)
        .build();
    // Connected, and the build's fingerprint looked up, before the clock starts.
    cache.fetch("warm", 1_u64, || async { 0_u64 }).await;

    let tasks: Vec<_> = (0..CALLERS)
        .map(|i| {
            let cache = cache.clone();
            tokio::spawn(async move {
                let start = Instant::now();
                let (_, served) = cache
                    .fetch_served(
                        format!("k{i}"),
                        1_u64,
                        FetchOptions::new(),
                        move || async move { i as u64 },
                    )
                    .await;
                (served, start.elapsed())
            })
        })
        .collect();
    let mut slowest = Duration::ZERO;
    for task in tasks {
        let (served, elapsed) = task.await.unwrap();
        assert_eq!(served, Served::Miss);
        slowest = slowest.max(elapsed);
    }
    // A miss is three round trips (read; the write's read and compare-and-set),
    // each under the timeout, plus slack for a loaded machine: with a stripe, the
    // busiest of 64 stripes (some 25 writes of two round trips each) took seconds.
    assert!(
        slowest < 3 * TIMEOUT + Duration::from_secs(1),
        "the slowest of {CALLERS} misses took {slowest:?}"
    );
    assert_eq!(cache.stats().store_errors, 0);
    for i in [0, CALLERS / 2, CALLERS - 1] {
        let (value, served) = cache
            .fetch_served(format!("k{i}"), 1_u64, FetchOptions::new(), || async {
                u64::MAX
            })
            .await;
        assert_eq!((value, served), (i as u64, Served::Hit));
    }
}

/// Issue 11, item 9: `expires_in(Duration::MAX)` became a `PX` Redis rejects, so the
/// entry was never stored. As in memory, an expiry past what the clock can hold is
/// none.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expiry_of_duration_max_is_no_expiry() {
    let server = RedisServer::start();
    let cache: Cache<Redis> = Cache::builder()
        .redis(&server.url())
        .key_prefix("max:")
        .build();
    let options = FetchOptions::new().expires_in(Duration::MAX);
    let fetch = |value: &'static str| {
        cache.fetch_served("k", 1_u64, options.clone(), move || async move {
            value.to_string()
        })
    };
    assert_eq!(fetch("v").await, ("v".into(), Served::Miss));
    assert_eq!(fetch("unused").await, ("v".into(), Served::Hit));
    assert_eq!(cache.stats().store_errors, 0);
    let mut admin = server.admin();
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg("max:swr:*:e:k")
        .query(&mut admin)
        .unwrap();
    assert_eq!(keys.len(), 1, "{keys:?}");
    let pttl: i64 = redis::cmd("PTTL").arg(&keys[0]).query(&mut admin).unwrap();
    assert_eq!(pttl, -1);
}

fn net_output_bytes(admin: &mut redis::Connection) -> u64 {
    let info: String = redis::cmd("INFO").arg("stats").query(admin).unwrap();
    info.lines()
        .find_map(|line| line.strip_prefix("total_net_output_bytes:"))
        .expect("INFO stats has total_net_output_bytes")
        .trim()
        .parse()
        .unwrap()
}

/// Issue 11, item 9: reads had no size cap. A value far over `max_value_bytes`,
/// written by another process, was sent in full on every read (timing reads out
/// and tripping the back-off for every locator once it is large enough). Its bytes
/// must not leave Redis: it is a miss, replaced by the next write.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reads_do_not_carry_values_over_max_value_bytes() {
    const LIMIT: usize = 4 * 1024;
    const HUGE: usize = 16 << 20;
    let server = RedisServer::start();
    let cache: Cache<Redis> = Cache::builder()
        .redis(&server.url())
        .key_prefix("big:")
        .max_value_bytes(LIMIT)
        .build();
    let fetch = |locator: &'static str, value: &'static str| {
        cache.fetch_served(locator, 1_u64, FetchOptions::new(), move || async move {
            value.to_string()
        })
    };
    assert_eq!(fetch("big", "small").await.1, Served::Miss);
    assert_eq!(fetch("other", "o").await.1, Served::Miss);
    let mut admin = server.admin();
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg("big:*big")
        .query(&mut admin)
        .unwrap();
    assert_eq!(keys.len(), 1, "{keys:?}");
    // Another process's huge value, in our record format's first byte.
    let mut huge = vec![b'x'; HUGE];
    huge[0] = 0xA2;
    test_support::cache_keys::write_entry(&mut admin, "big:", "big", &huge);

    let before = net_output_bytes(&mut admin);
    assert_eq!(
        fetch("big", "replacement").await,
        ("replacement".into(), Served::Miss)
    );
    let sent = net_output_bytes(&mut admin) - before;
    assert!(
        sent < HUGE as u64 / 16,
        "Redis sent {sent} bytes for one fetch"
    );
    assert_eq!(
        fetch("big", "unused").await,
        ("replacement".into(), Served::Hit)
    );
    assert_eq!(fetch("other", "unused").await, ("o".into(), Served::Hit));
    assert_eq!(cache.stats().store_errors, 0);
}

/// What a hit through Redis costs against a raw `GET` of the same payload over one
/// multiplexed connection (printed with `--nocapture`; numbers worth reading come
/// from `--release`). The read script's extra work (the generation check, the size
/// cap) stays within one round trip.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn measure_a_hit_against_a_raw_get() {
    const HITS: usize = 4000;
    let server = RedisServer::start();
    let cache: Cache<Redis> = Cache::builder()
        .redis(&server.url())
        .key_prefix("measure:")
        .build();
    let value = "x".repeat(1024);
    let stored = value.clone();
    cache.fetch("k", 1_u64, move || async move { stored }).await;
    let mut raw = redis::Client::open(server.url())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    let _: () = redis::cmd("SET")
        .arg("raw")
        .arg(&value)
        .query_async(&mut raw)
        .await
        .unwrap();
    let (mut ours, mut theirs) = (Vec::with_capacity(HITS), Vec::with_capacity(HITS));
    for _ in 0..HITS {
        let start = Instant::now();
        let hit: String = cache
            .fetch("k", 1_u64, || async { unreachable!("a hit") })
            .await;
        ours.push(start.elapsed());
        assert_eq!(hit.len(), 1024);
        let start = Instant::now();
        let got: Vec<u8> = redis::cmd("GET")
            .arg("raw")
            .query_async(&mut raw)
            .await
            .unwrap();
        theirs.push(start.elapsed());
        assert_eq!(got.len(), 1024);
    }
    ours.sort();
    theirs.sort();
    let (ours_p50, theirs_p50) = (ours[HITS / 2], theirs[HITS / 2]);
    let (ours_p99, theirs_p99) = (ours[HITS * 99 / 100], theirs[HITS * 99 / 100]);
    println!(
        "1 KiB hit through Redis p50 {ours_p50:?} p99 {ours_p99:?}; raw GET p50 {theirs_p50:?} p99 {theirs_p99:?}; ratio p50 {:.2}x",
        ours_p50.as_secs_f64() / theirs_p50.as_secs_f64()
    );
    assert!(
        ours_p50 < theirs_p50 * 3,
        "a hit costs more than one round trip"
    );
    assert_eq!(cache.stats().store_errors, 0);
}
