//! `#[async_cached]` on the seed design's controller: a rendered thing, whose
//! version is the thing's `updated_at`. Runs without a server:
//!
//! ```text
//! cargo run --example attribute
//! ```

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use async_cache_runtime::async_cached;

/// The database: the thing's `updated_at`, bumped by an edit.
static UPDATED_AT: AtomicU64 = AtomicU64::new(20151210063911);

#[derive(Debug)]
struct DbError;

async fn thing_updated_at(_id: u64) -> Result<u64, DbError> {
    // A cheap indexed query, e.g. `SELECT updated_at FROM things WHERE id = $1`.
    tokio::time::sleep(Duration::from_millis(1)).await;
    Ok(UPDATED_AT.load(Ordering::SeqCst))
}

/// Renders a thing as JSON: the expensive part, cached.
#[async_cached(locator = format!("things/{id}"), version = thing_updated_at(id).await?)]
async fn render_thing(id: u64) -> Result<String, DbError> {
    let updated_at = thing_updated_at(id).await?;
    tokio::time::sleep(Duration::from_millis(300)).await; // a slow render
    Ok(format!(r#"{{"id":{id},"updated_at":{updated_at}}}"#))
}

async fn timed(label: &str) {
    let start = Instant::now();
    let json = render_thing(123).await.expect("the database is up");
    println!("{label:<28} {:>8.1?}  {json}", start.elapsed());
}

#[tokio::main]
async fn main() {
    timed("miss (rendered now)").await;
    timed("hit").await;

    UPDATED_AT.fetch_add(1, Ordering::SeqCst); // someone edits the thing
    timed("stale hit (old value, fast)").await;

    async_cache_runtime::global().wait_for_refreshes().await;
    timed("refreshed (new value, fast)").await;

    println!("{:?}", async_cache_runtime::global().stats());
}
