//! Two processes sharing one cache through Redis.
//!
//! ```text
//! redis-server --port 6379 --save '' &        # any Redis or Valkey will do
//! cargo run --example redis --features redis  # or: ... -- redis://host:port/
//! ```
//!
//! The program stores version 1 of an entry, then runs itself twice more as two
//! worker processes. In each, 20 concurrent requests want version 2: every request
//! is answered at once with version 1 (stale), and version 2 is rendered in the
//! background exactly once across both processes. Afterwards both serve version 2.

use std::process::{Command, Stdio};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_cache_runtime::{Cache, FetchOptions, Redis, Served};

const LOCATOR: &str = "things/1";

fn cache(url: &str) -> Cache<Redis> {
    Cache::builder()
        .redis(url)
        .key_prefix("async-cache-example:")
        .near_cache(Duration::from_millis(200))
        .build()
}

/// The expensive part, tagged with the process that ran it.
async fn render(version: u64) -> String {
    println!("[{}] rendering version {version}", std::process::id());
    tokio::time::sleep(Duration::from_millis(300)).await;
    format!(
        r#"{{"id":1,"version":{version},"by":{}}}"#,
        std::process::id()
    )
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.as_slice() {
        [worker, url, start_at] if worker == "worker" => {
            run_worker(url, start_at.parse().unwrap()).await;
        }
        _ => {
            let url = args
                .first()
                .cloned()
                .unwrap_or_else(|| "redis://127.0.0.1:6379/".into());
            run_parent(&url).await;
        }
    }
}

async fn run_parent(url: &str) {
    let cache = cache(url);
    cache.invalidate_all(); // a clean slate for the demo
    let v1 = cache.fetch(LOCATOR, 1_u64, || render(1)).await;
    if cache.stats().store_errors > 0 {
        eprintln!("Redis at {url} did not answer: start one (redis-server) or pass its URL");
        std::process::exit(1);
    }
    println!("[{}] stored version 1: {v1}", std::process::id());

    // Two workers that start their requests at the same moment.
    let start_at = (now_ms() + 500).to_string();
    let exe = std::env::current_exe().unwrap();
    let workers: Vec<_> = (0..2)
        .map(|_| {
            Command::new(&exe)
                .args(["worker", url, &start_at])
                .stdout(Stdio::piped())
                .spawn()
                .expect("the example runs itself as a worker")
        })
        .collect();
    let mut renders = 0;
    for worker in workers {
        let output = worker.wait_with_output().unwrap();
        let text = String::from_utf8_lossy(&output.stdout);
        print!("{text}");
        renders += text.matches("rendering version 2").count();
    }
    println!("version 2 was rendered {renders} time(s) across both workers");
}

async fn run_worker(url: &str, start_at: u64) {
    let cache = cache(url);
    tokio::time::sleep(Duration::from_millis(start_at.saturating_sub(now_ms()))).await;
    let requests: Vec<_> = (0..20)
        .map(|_| {
            let cache = cache.clone();
            tokio::spawn(async move {
                cache
                    .fetch_served(LOCATOR, 2_u64, FetchOptions::new(), || render(2))
                    .await
            })
        })
        .collect();
    let mut stale = 0;
    for request in requests {
        let (value, served) = request.await.unwrap();
        if served == Served::Stale {
            stale += 1;
            assert!(value.contains(r#""version":1"#));
        }
    }
    cache.wait_for_refreshes().await;
    // The other worker's refresh may still be running: wait for version 2 to land.
    let mut value = String::new();
    for _ in 0..50 {
        let (now, served) = cache
            .fetch_served(
                LOCATOR,
                2_u64,
                FetchOptions::new().force_sync(false),
                || render(2),
            )
            .await;
        value = now;
        if served == Served::Hit && value.contains(r#""version":2"#) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    println!(
        "[{}] 20 requests: {stale} answered at once with version 1; now serving {value}; {:?}",
        std::process::id(),
        cache.stats()
    );
}
