//! The load generator: an open loop at a fixed request rate over HTTP/1.1 keep-alive
//! connections (hyper), so a slow answer delays no later request, and each latency is
//! measured from when its request was due, not from when it went out: coordinated
//! omission does not hide the tail.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use http_body_util::{BodyExt, Empty};
use hyper::body::Bytes;
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use serde::Deserialize;
use tokio::task::JoinSet;

/// Keep-alive connections to one server, opened as the open loop needs them.
pub struct Pool {
    addr: SocketAddr,
    idle: Mutex<Vec<SendRequest<Empty<Bytes>>>>,
}

/// What a page says of itself: the fields the staleness measurement reads.
#[derive(Deserialize)]
struct Page {
    id: i64,
    updated_at: i64,
}

impl Pool {
    pub fn new(addr: SocketAddr) -> Arc<Pool> {
        Arc::new(Pool {
            addr,
            idle: Mutex::default(),
        })
    }

    async fn connect(&self) -> Result<SendRequest<Empty<Bytes>>, String> {
        let stream = tokio::net::TcpStream::connect(self.addr)
            .await
            .map_err(|error| format!("connecting: {error}"))?;
        let _ = stream.set_nodelay(true);
        let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|error| format!("handshake: {error}"))?;
        tokio::spawn(async move {
            let _ = connection.await;
        });
        Ok(sender)
    }

    /// `GET /things/{id}`: the page's `(id, updated_at)`.
    pub async fn get(&self, id: i64) -> Result<(i64, i64), String> {
        let idle = self.idle.lock().expect("the pool").pop();
        let mut sender = match idle {
            Some(sender) if !sender.is_closed() => sender,
            _ => self.connect().await?,
        };
        sender
            .ready()
            .await
            .map_err(|error| format!("connection: {error}"))?;
        let request = hyper::Request::get(format!("/things/{id}"))
            .header(hyper::header::HOST, "127.0.0.1")
            .body(Empty::new())
            .expect("a request");
        let response = sender
            .send_request(request)
            .await
            .map_err(|error| format!("request: {error}"))?;
        let status = response.status();
        let body = response
            .into_body()
            .collect()
            .await
            .map_err(|error| format!("body: {error}"))?
            .to_bytes();
        self.idle.lock().expect("the pool").push(sender);
        if !status.is_success() {
            return Err(format!(
                "status {status}: {}",
                String::from_utf8_lossy(&body)
            ));
        }
        let page: Page =
            serde_json::from_slice(&body).map_err(|error| format!("not a page: {error}"))?;
        if page.id != id {
            return Err(format!("asked for thing {id}, got {}", page.id));
        }
        Ok((page.id, page.updated_at))
    }
}

/// What one open-loop run saw.
pub struct Seen {
    /// Latency (µs) of every answered request, from when it was due.
    pub latency: Histogram<u64>,
    /// Per thing (index `id - 1`): when each answer arrived and the `updated_at` it
    /// carried, in arrival order.
    pub pages: Vec<Vec<(Instant, i64)>>,
    pub answered: u64,
    pub errors: u64,
    /// The first few error messages.
    pub error_samples: Vec<String>,
    /// From the first request's due time to the last answer.
    pub elapsed: Duration,
}

impl Seen {
    fn new(things: usize) -> Seen {
        Seen {
            latency: Histogram::new_with_bounds(1, 60_000_000, 3).expect("histogram bounds"),
            pages: vec![Vec::new(); things],
            answered: 0,
            errors: 0,
            error_samples: Vec::new(),
            elapsed: Duration::ZERO,
        }
    }

    fn record(&mut self, due: Instant, answer: Result<(i64, i64), String>) {
        let now = Instant::now();
        match answer {
            Ok((id, updated_at)) => {
                self.answered += 1;
                self.latency
                    .saturating_record(now.duration_since(due).as_micros() as u64);
                self.pages[(id - 1) as usize].push((now, updated_at));
            }
            Err(error) => {
                self.errors += 1;
                if self.error_samples.len() < 5 {
                    self.error_samples.push(error);
                }
            }
        }
    }
}

/// Requests `ids` in turn, one every `1 / rate` s from now whatever the answers do,
/// then waits for every answer.
pub async fn open_loop(pool: &Arc<Pool>, things: usize, ids: &[i64], rate: f64) -> Seen {
    let seen = Arc::new(Mutex::new(Seen::new(things)));
    let interval = Duration::from_secs_f64(1.0 / rate);
    let start = Instant::now();
    let mut running = JoinSet::new();
    let mut next = 0;
    while next < ids.len() {
        let due = start + interval.mul_f64(next as f64);
        let now = Instant::now();
        if due > now {
            tokio::time::sleep_until(due.into()).await;
        }
        // Everything due by now goes out, late ones included: the timer's resolution
        // sends bursts, not fewer requests.
        let now = Instant::now();
        while next < ids.len() {
            let due = start + interval.mul_f64(next as f64);
            if due > now {
                break;
            }
            let (pool, seen, id) = (pool.clone(), seen.clone(), ids[next]);
            running.spawn(async move {
                let answer = pool.get(id).await;
                seen.lock().expect("the results").record(due, answer);
            });
            next += 1;
        }
        while running.try_join_next().is_some() {}
    }
    while running.join_next().await.is_some() {}
    let mut seen = Arc::try_unwrap(seen)
        .ok()
        .expect("every request finished")
        .into_inner()
        .expect("the results");
    seen.elapsed = start.elapsed();
    seen
}

/// Requests every one of `ids` once, at most `concurrency` at a time (the cold fill).
pub async fn fill(pool: &Arc<Pool>, ids: impl Iterator<Item = i64>, concurrency: usize) -> u64 {
    let mut running: JoinSet<Result<(i64, i64), String>> = JoinSet::new();
    let mut errors = 0;
    for id in ids {
        if running.len() >= concurrency
            && let Some(done) = running.join_next().await
        {
            errors += u64::from(done.expect("a fill request").is_err());
        }
        let pool = pool.clone();
        running.spawn(async move { pool.get(id).await });
    }
    while let Some(done) = running.join_next().await {
        errors += u64::from(done.expect("a fill request").is_err());
    }
    errors
}

/// A closed loop: `connections` clients each requesting the next of `ids` as soon as
/// the last answered, for `duration`: `(answers, errors, elapsed)`. It finds the most
/// the server answers, where the open loop measures latency at a set rate.
pub async fn closed_loop(
    pool: &Arc<Pool>,
    ids: &Arc<[i64]>,
    connections: usize,
    duration: Duration,
) -> (u64, u64, Duration) {
    let start = Instant::now();
    let deadline = start + duration;
    let next = Arc::new(AtomicUsize::new(0));
    let mut clients = JoinSet::new();
    for _ in 0..connections {
        let (pool, ids, next) = (pool.clone(), ids.clone(), next.clone());
        clients.spawn(async move {
            let (mut answered, mut errors) = (0, 0);
            while Instant::now() < deadline {
                let id = ids[next.fetch_add(1, Ordering::Relaxed) % ids.len()];
                match pool.get(id).await {
                    Ok(_) => answered += 1,
                    Err(_) => errors += 1,
                }
            }
            (answered, errors)
        });
    }
    let (mut answered, mut errors) = (0, 0);
    while let Some(done) = clients.join_next().await {
        let (a, e) = done.expect("a closed-loop client");
        answered += a;
        errors += e;
    }
    (answered, errors, start.elapsed())
}
