//! The stale-while-revalidate strategy on the in-memory default, with timings.
//!
//! ```text
//! cargo run --example quickstart
//! ```
//!
//! A "thing" whose JSON takes 200 ms to render: the first fetch renders it (a miss),
//! the second is a hit, and after the thing changes (its version goes up) the old
//! JSON is served at once while the new one renders in the background.

use std::time::{Duration, Instant};

use async_cache_runtime::{Cache, FetchOptions, Served};

const RENDER_COST: Duration = Duration::from_millis(200);

/// The expensive part: what the cache saves.
async fn render_thing(id: u64, updated_at: u64) -> String {
    tokio::time::sleep(RENDER_COST).await;
    format!(r#"{{"id":{id},"updated_at":{updated_at}}}"#)
}

async fn fetch(cache: &Cache, updated_at: u64) -> (String, Served, Duration) {
    let start = Instant::now();
    let (json, served) = cache
        .fetch_served("things/123", updated_at, FetchOptions::new(), move || {
            render_thing(123, updated_at)
        })
        .await;
    (json, served, start.elapsed())
}

fn show(what: &str, (json, served, took): &(String, Served, Duration)) {
    println!("{what:<44} {:<6} {:>10.3?}  {json}", served.as_str(), took);
}

#[tokio::main]
async fn main() {
    let cache = Cache::new();
    println!("render cost: {RENDER_COST:?}\n");

    show(
        "first fetch, version 1: generated now",
        &fetch(&cache, 1).await,
    );
    show(
        "second fetch, version 1: served from cache",
        &fetch(&cache, 1).await,
    );

    let stale = fetch(&cache, 2).await;
    show("thing changed, version 2: old value at once", &stale);
    let refreshing = Instant::now();
    cache.wait_for_refreshes().await;
    println!(
        "{:<44} {:<6} {:>10.3?}",
        "  ... background refresh landed after",
        "",
        refreshing.elapsed()
    );
    show(
        "fetch, version 2: the refreshed value",
        &fetch(&cache, 2).await,
    );

    let editor = Instant::now();
    let (json, served) = cache
        .fetch_served(
            "things/123",
            3_u64,
            FetchOptions::new().force_sync(true),
            || render_thing(123, 3),
        )
        .await;
    show(
        "an editor at version 3 (force_sync): waits",
        &(json, served, editor.elapsed()),
    );

    let stats = cache.stats();
    println!("\n{stats:?}");
    let stale_took = stale.2;
    println!(
        "\nthe stale hit took {stale_took:.3?}, {:.0}x faster than a render",
        RENDER_COST.as_secs_f64() / stale_took.as_secs_f64()
    );
}
