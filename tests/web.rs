//! End to end: the web example (`examples/web.rs`) as a server process on a free
//! loopback port, with its own SQLite file, driven over real HTTP.
//!
//! Renders are simulated to cost `RENDER`; a response counts as "at once" under half
//! of that (in practice a few milliseconds).

mod web_support;

use std::time::Duration;

use web_support::{TempDir, WebServer, count, get, put, stats, stats_when};

const RENDER: Duration = Duration::from_millis(400);
const AT_ONCE: Duration = Duration::from_millis(200);

fn start(dir: &TempDir) -> WebServer {
    start_rendering_in(dir, RENDER)
}

fn start_rendering_in(dir: &TempDir, render: Duration) -> WebServer {
    let db = dir.path().join("things.db");
    WebServer::start(&[
        "--db",
        db.to_str().expect("a UTF-8 path"),
        "--render-ms",
        &render.as_millis().to_string(),
    ])
}

fn body_of(reply: &web_support::Reply) -> String {
    reply.json()["body"]
        .as_str()
        .unwrap_or_else(|| panic!("no body in {reply:?}"))
        .to_owned()
}

/// 200 concurrent GETs of `path`, spread over `servers`, right after an edit: each is
/// the old render at once (`stale`, before the one refresh lands) or the new one
/// (`hit`, after it); nobody renders in a request. Returns how many were stale.
async fn concurrent_reads_after_an_edit(
    servers: &[std::net::SocketAddr],
    path: &'static str,
    old: &str,
    new: &str,
) -> u64 {
    let readers: Vec<_> = (0..200)
        .map(|i| tokio::spawn(get(servers[i % servers.len()], path)))
        .collect();
    let mut stale = 0_u64;
    for reader in readers {
        let reply = reader.await.expect("the reader finishes");
        assert_eq!(reply.status, 200, "{reply:?}");
        match reply.served() {
            "stale" => {
                assert_eq!(body_of(&reply), old, "{reply:?}");
                stale += 1;
            }
            "hit" => assert_eq!(body_of(&reply), new, "{reply:?}"),
            other => panic!("served {other}: nobody renders in a request: {reply:?}"),
        }
    }
    assert!(stale > 0, "the first reads saw the edit before any refresh");
    stale
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn miss_hit_stale_refresh_and_preview() {
    let dir = TempDir::new("swr");
    let server = start(&dir);
    let addr = server.addr;

    let first = get(addr, "/things/1").await;
    assert_eq!((first.status, first.served()), (200, "miss"), "{first:?}");
    assert!(first.elapsed >= RENDER, "a miss renders: {first:?}");
    assert_eq!(first.json()["rendered_by_pid"], server.pid(), "{first:?}");
    let original = body_of(&first);

    let second = get(addr, "/things/1").await;
    assert_eq!((second.status, second.served()), (200, "hit"), "{second:?}");
    assert!(second.elapsed < AT_ONCE, "a hit is fast: {second:?}");
    assert_eq!(second.body, first.body, "a hit is the stored render");

    // An edit: the next read serves the old render at once and refreshes it behind.
    let before = stats(addr).await;
    let edit = put(
        addr,
        "/things/1",
        r#"{"name":"kettle","body":"edited once"}"#,
    )
    .await;
    assert_eq!(edit.status, 200, "{edit:?}");
    assert_eq!(edit.json()["body"], "edited once");
    let stale = get(addr, "/things/1").await;
    assert_eq!((stale.status, stale.served()), (200, "stale"), "{stale:?}");
    assert!(
        stale.elapsed < AT_ONCE,
        "a stale read does not wait: {stale:?}"
    );
    assert_eq!(
        body_of(&stale),
        original,
        "a stale read serves the old render"
    );

    stats_when(addr, "the refresh completes", |now| {
        count(now, "refreshes_completed") == count(&before, "refreshes_completed") + 1
    })
    .await;
    let fresh = get(addr, "/things/1").await;
    assert_eq!((fresh.status, fresh.served()), (200, "hit"), "{fresh:?}");
    eprintln!(
        "render {RENDER:?}: miss {:?}, hit {:?}, stale {:?}, refreshed hit {:?}",
        first.elapsed, second.elapsed, stale.elapsed, fresh.elapsed
    );
    assert_eq!(body_of(&fresh), "edited once");

    // An editor's preview renders an outdated entry in the request: new body at once.
    let edit = put(
        addr,
        "/things/1",
        r#"{"name":"kettle","body":"edited twice"}"#,
    )
    .await;
    assert_eq!(edit.status, 200, "{edit:?}");
    let preview = get(addr, "/things/1?preview=true").await;
    assert_eq!(
        (preview.status, preview.served()),
        (200, "sync"),
        "{preview:?}"
    );
    assert_eq!(
        body_of(&preview),
        "edited twice",
        "a preview is never stale"
    );
    assert!(
        preview.elapsed >= RENDER,
        "rendered in the request: {preview:?}"
    );
    let after = get(addr, "/things/1").await;
    assert_eq!(
        (after.served(), body_of(&after)),
        ("hit", "edited twice".into())
    );
    assert_eq!(after.body, preview.body, "the preview's render was stored");
    // Previewing a current entry is an ordinary hit.
    let again = get(addr, "/things/1?preview=true").await;
    assert_eq!(again.served(), "hit", "{again:?}");

    let now = stats(addr).await;
    assert_eq!(count(&now, "misses"), 1, "{now}");
    assert_eq!(count(&now, "sync_refreshes"), 1, "{now}");
    assert_eq!(count(&now, "stale_hits"), 1, "{now}");
    assert_eq!(count(&now, "refreshes_started"), 1, "{now}");
    assert_eq!(count(&now, "renders"), 3, "miss, refresh, preview: {now}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hundred_concurrent_reads_after_an_edit_render_once() {
    let dir = TempDir::new("storm");
    let server = start(&dir);
    let addr = server.addr;
    let warm = get(addr, "/things/2").await;
    assert_eq!(warm.served(), "miss", "{warm:?}");
    let old = body_of(&warm);

    let edit = put(addr, "/things/2", r#"{"name":"teapot","body":"new"}"#).await;
    assert_eq!(edit.status, 200, "{edit:?}");
    let before = stats(addr).await;
    let stale = concurrent_reads_after_an_edit(&[addr], "/things/2", &old, "new").await;
    eprintln!("200 concurrent reads: {stale} stale, {} hits", 200 - stale);

    let after = stats_when(addr, "the refresh completes", |now| {
        count(now, "refreshes_completed") > count(&before, "refreshes_completed")
    })
    .await;
    let added = |name| count(&after, name) - count(&before, name);
    assert_eq!(added("refreshes_started"), 1, "one refresh: {after}");
    assert_eq!(added("refreshes_completed"), 1, "{after}");
    assert_eq!(added("renders"), 1, "one render for 200 readers: {after}");
    assert_eq!(added("misses"), 0, "{after}");
    assert_eq!(added("sync_refreshes"), 0, "{after}");
    assert_eq!(added("refreshes_dropped"), 0, "{after}");
    assert_eq!(added("stale_hits"), stale, "{after}");
    let fresh = get(addr, "/things/2").await;
    assert_eq!((fresh.served(), body_of(&fresh)), ("hit", "new".into()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_gets_a_clear_4xx_and_changes_nothing() {
    let dir = TempDir::new("bad");
    let server = start(&dir);
    let addr = server.addr;
    let stored = get(addr, "/things/3").await;
    assert_eq!(stored.served(), "miss");
    let before = stats(addr).await;

    let error = |reply: &web_support::Reply| -> String {
        assert!(
            reply.x_cache.is_none(),
            "no cache outcome on errors: {reply:?}"
        );
        reply.json()["error"]
            .as_str()
            .unwrap_or_else(|| panic!("a JSON error message: {reply:?}"))
            .to_owned()
    };

    let unknown = get(addr, "/things/999").await;
    assert_eq!(unknown.status, 404, "{unknown:?}");
    assert!(error(&unknown).contains("999"), "{unknown:?}");
    let unknown = put(addr, "/things/999", r#"{"name":"a","body":"b"}"#).await;
    assert_eq!(unknown.status, 404, "{unknown:?}");

    for path in ["/things/abc", "/things/-1", "/things/1.5"] {
        let reply = get(addr, path).await;
        assert_eq!(reply.status, 400, "{reply:?}");
        assert!(error(&reply).contains("malformed id"), "{reply:?}");
    }
    let reply = put(addr, "/things/abc", r#"{"name":"a","body":"b"}"#).await;
    assert_eq!(reply.status, 400, "{reply:?}");
    assert!(error(&reply).contains("malformed id"), "{reply:?}");
    let reply = get(addr, "/things/3?preview=maybe").await;
    assert_eq!(reply.status, 400, "{reply:?}");
    assert!(error(&reply).contains("preview"), "{reply:?}");

    for body in [
        "{not json",
        r#"{"name":"a"}"#,
        r#"{"name":1,"body":"b"}"#,
        r#"{"name":"a","body":"b","extra":true}"#,
        "[]",
    ] {
        let reply = put(addr, "/things/3", body).await;
        assert!(
            (400..500).contains(&reply.status),
            "{body}: a 4xx, got {reply:?}"
        );
        assert!(
            error(&reply).contains("expected a JSON object"),
            "{reply:?}"
        );
    }
    let no_content_type = web_support::request(addr, "PUT", "/things/3", None).await;
    assert!(
        (400..500).contains(&no_content_type.status),
        "{no_content_type:?}"
    );

    // Nothing changed: the row's version did not move, so the stored render is current.
    let same = get(addr, "/things/3").await;
    assert_eq!((same.served(), &same.body), ("hit", &stored.body));
    let after = stats(addr).await;
    for counter in ["misses", "stale_hits", "sync_refreshes", "renders"] {
        assert_eq!(
            count(&after, counter),
            count(&before, counter),
            "{counter}: {after}"
        );
    }
    assert_eq!(count(&after, "hits"), count(&before, "hits") + 1, "{after}");
}

/// SIGTERM while a refresh renders: the server stops accepting, waits for the refresh,
/// and exits cleanly.
#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_drains_the_running_refresh() {
    let dir = TempDir::new("shutdown");
    // A long render, so that the drain is seen to wait for it.
    let server = start_rendering_in(&dir, Duration::from_millis(1500));
    let addr = server.addr;
    assert_eq!(get(addr, "/things/1").await.served(), "miss");
    let edit = put(
        addr,
        "/things/1",
        r#"{"name":"kettle","body":"last words"}"#,
    )
    .await;
    assert_eq!(edit.status, 200, "{edit:?}");
    assert_eq!(get(addr, "/things/1").await.served(), "stale");
    stats_when(addr, "the refresh starts", |now| {
        count(now, "refreshes_started") == 1
    })
    .await;

    let output = tokio::task::spawn_blocking(move || server.terminate())
        .await
        .expect("the server stops");
    let last = web_support::final_stats(&output);
    assert_eq!(count(&last, "refreshes_started"), 1, "{output:?}");
    assert_eq!(
        count(&last, "refreshes_completed"),
        1,
        "drained, not abandoned: {output:?}"
    );
    assert_eq!(count(&last, "renders"), 2, "{output:?}");
    let drained = output
        .iter()
        .position(|line| line.starts_with("draining background refreshes"))
        .expect("it says it drains");
    let rendered = output
        .iter()
        .rposition(|line| line.contains("rendered things/1"))
        .expect("the refresh's render line");
    assert!(
        rendered > drained,
        "the refresh finished during the drain: {output:?}"
    );
}

/// Two servers over one Redis (and one database): after an edit, concurrent reads on
/// both are served at once, and the new version renders once across both.
#[cfg(all(feature = "redis", unix))]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_processes_over_one_redis_render_once() {
    let redis = web_support::RedisServer::start();
    let dir = TempDir::new("shared");
    let db = dir.path().join("things.db");
    let args = [
        "--db",
        db.to_str().expect("a UTF-8 path"),
        "--render-ms",
        &RENDER.as_millis().to_string(),
        "--redis",
        &redis.url(),
    ];
    let a = WebServer::start(&args);
    let b = WebServer::start(&args);
    let (a_addr, b_addr) = (a.addr, b.addr);

    let first = get(a_addr, "/things/1").await;
    assert_eq!(first.served(), "miss", "{first:?}");
    let shared = get(b_addr, "/things/1").await;
    assert_eq!(
        shared.served(),
        "hit",
        "B reads A's render from Redis: {shared:?}"
    );
    assert_eq!(shared.json()["rendered_by_pid"], a.pid());
    let old = body_of(&first);

    let edit = put(
        a_addr,
        "/things/1",
        r#"{"name":"kettle","body":"shared edit"}"#,
    )
    .await;
    assert_eq!(edit.status, 200, "{edit:?}");
    concurrent_reads_after_an_edit(&[a_addr, b_addr], "/things/1", &old, "shared edit").await;

    // Both serve the new render once it lands in Redis.
    for addr in [a_addr, b_addr] {
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        loop {
            let reply = get(addr, "/things/1").await;
            if reply.served() == "hit" && body_of(&reply) == "shared edit" {
                break;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "no refresh: {reply:?}"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    // Stopped, each has drained its refreshes: the counts are final.
    let (a_out, b_out) = tokio::task::spawn_blocking(move || (a.terminate(), b.terminate()))
        .await
        .expect("the servers stop");
    let (a_last, b_last) = (
        web_support::final_stats(&a_out),
        web_support::final_stats(&b_out),
    );
    eprintln!("final stats: A {a_last}, B {b_last}");
    let total = |name| count(&a_last, name) + count(&b_last, name);
    assert_eq!(
        total("renders"),
        2,
        "the first miss, then one refresh: {a_last} {b_last}"
    );
    assert_eq!(total("misses"), 1, "{a_last} {b_last}");
    assert_eq!(total("sync_refreshes"), 0, "{a_last} {b_last}");
    assert_eq!(total("refreshes_failed"), 0, "{a_last} {b_last}");
    assert_eq!(total("store_errors"), 0, "{a_last} {b_last}");
}

/// The samples of a Prometheus text scrape: `(name, sorted labels) -> value`.
fn scraped(text: &str) -> std::collections::BTreeMap<(String, Vec<String>), f64> {
    text.lines()
        .filter(|line| !line.starts_with('#') && !line.trim().is_empty())
        .map(|line| {
            let (series, value) = line.rsplit_once(' ').expect("`series value`");
            let (name, labels) = match series.split_once('{') {
                Some((name, labels)) => (name, labels.trim_end_matches('}')),
                None => (series, ""),
            };
            let mut labels: Vec<String> = labels
                .split(',')
                .filter(|l| !l.is_empty())
                .map(str::to_owned)
                .collect();
            labels.sort();
            let value = value.parse().unwrap_or_else(|_| panic!("a number: {line}"));
            ((name.to_owned(), labels), value)
        })
        .collect()
}

fn sample(
    samples: &std::collections::BTreeMap<(String, Vec<String>), f64>,
    name: &str,
    labels: &[&str],
) -> f64 {
    let mut labels: Vec<String> = labels.iter().map(|l| l.to_string()).collect();
    labels.push(r#"cache="things""#.to_owned());
    labels.sort();
    *samples
        .get(&(name.to_owned(), labels.clone()))
        .unwrap_or_else(|| {
            panic!(
                "no {name}{{{}}} in the scrape: {samples:?}",
                labels.join(",")
            )
        })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_metrics_endpoint_counts_the_traffic() {
    let dir = TempDir::new("metrics");
    let server = start(&dir);
    let addr = server.addr;

    // A miss, two hits, an edit, a stale read and its refresh, then a hit of it.
    assert_eq!(get(addr, "/things/1").await.served(), "miss");
    assert_eq!(get(addr, "/things/1").await.served(), "hit");
    assert_eq!(get(addr, "/things/1").await.served(), "hit");
    let before = stats(addr).await;
    let edit = put(addr, "/things/1", r#"{"name":"kettle","body":"edited"}"#).await;
    assert_eq!(edit.status, 200, "{edit:?}");
    assert_eq!(get(addr, "/things/1").await.served(), "stale");
    stats_when(addr, "the refresh completes", |now| {
        count(now, "refreshes_completed") == count(&before, "refreshes_completed") + 1
    })
    .await;
    assert_eq!(get(addr, "/things/1").await.served(), "hit");

    let reply = get(addr, "/metrics").await;
    assert_eq!(reply.status, 200, "{reply:?}");
    let text = reply.body.clone();
    let samples = scraped(&text);
    let fetches = |served: &str| {
        sample(
            &samples,
            "async_cache_fetches_total",
            &[&format!(r#"served="{served}""#)],
        )
    };
    let refreshes = |outcome: &str| {
        sample(
            &samples,
            "async_cache_refreshes_total",
            &[&format!(r#"outcome="{outcome}""#)],
        )
    };
    assert_eq!(
        (
            fetches("miss"),
            fetches("hit"),
            fetches("stale"),
            fetches("sync")
        ),
        (1.0, 3.0, 1.0, 0.0),
        "{text}"
    );
    assert_eq!(
        (
            refreshes("started"),
            refreshes("completed"),
            refreshes("failed")
        ),
        (1.0, 1.0, 0.0),
        "{text}"
    );
    // And they are the counters `/stats` reports.
    let now = stats(addr).await;
    assert_eq!(fetches("hit"), count(&now, "hits") as f64, "{now}");
    assert_eq!(fetches("stale"), count(&now, "stale_hits") as f64, "{now}");
    assert_eq!(fetches("miss"), count(&now, "misses") as f64, "{now}");
    // One render in a request and one in the background, each timed; one stale
    // answer and one refresh landed after it.
    let count_of = |name: &str, labels: &[&str]| sample(&samples, &format!("{name}_count"), labels);
    assert_eq!(
        count_of("async_cache_generation_seconds", &[r#"kind="miss""#]),
        1.0
    );
    assert_eq!(
        count_of("async_cache_generation_seconds", &[r#"kind="refresh""#]),
        1.0
    );
    assert_eq!(count_of("async_cache_stale_age_seconds", &[]), 1.0);
    assert_eq!(count_of("async_cache_refresh_lag_seconds", &[]), 1.0);
    let render_sum = sample(
        &samples,
        "async_cache_generation_seconds_sum",
        &[r#"kind="miss""#],
    );
    assert!(
        render_sum >= RENDER.as_secs_f64(),
        "a miss renders for at least {RENDER:?}: {render_sum}"
    );
    assert_eq!(
        sample(&samples, "async_cache_refreshes_running", &[]),
        0.0,
        "{text}"
    );
}

/// `POST /admin/outage` with the server's own database: a page rendered before the
/// outage is served throughout it (a hit until it expires, then its fallback with
/// `x-cache: fail_safe`), a page never rendered is an honest 500, the throttle spares
/// the dead database, and once it is mended a preview renders again and closes the
/// throttle.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_outage_serves_the_fallback_and_recovers() {
    // Long enough that the reads right after the first render find it unexpired even
    // on a busy machine; the default throttle (5 s) outlasts the steps it covers.
    const EXPIRES: Duration = Duration::from_secs(3);
    let dir = TempDir::new("outage");
    let db = dir.path().join("things.db");
    let server = WebServer::start(&[
        "--db",
        db.to_str().expect("a UTF-8 path"),
        "--render-ms",
        &RENDER.as_millis().to_string(),
        "--expires-ms",
        &EXPIRES.as_millis().to_string(),
    ]);
    let addr = server.addr;

    let first = get(addr, "/things/1").await;
    assert_eq!((first.status, first.served()), (200, "miss"), "{first:?}");
    let rendered_at = first.json()["rendered_at_ms"].clone();

    let outage = web_support::request(addr, "POST", "/admin/outage", None).await;
    assert_eq!(outage.status, 200, "{outage:?}");
    assert_eq!(outage.json()["outage"], true, "{outage:?}");

    // Not yet expired: the version cannot be read, and the stored render is current.
    let early = get(addr, "/things/1").await;
    assert_eq!((early.status, early.served()), (200, "hit"), "{early:?}");
    assert_eq!(early.body, first.body);

    // Never rendered: nothing to fall back on.
    let never = get(addr, "/things/2").await;
    assert_eq!(never.status, 500, "{never:?}");
    assert!(never.x_cache.is_none(), "{never:?}");
    let message = never.json()["error"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(message.contains("database is down"), "{never:?}");

    // Expired: the render fails, and the expired render is the answer.
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    let fallback = loop {
        let reply = get(addr, "/things/1").await;
        assert_eq!(reply.status, 200, "served throughout the outage: {reply:?}");
        if reply.served() != "hit" {
            break reply;
        }
        assert!(std::time::Instant::now() < deadline, "never expired");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(fallback.served(), "fail_safe", "{fallback:?}");
    assert_eq!(
        fallback.body, first.body,
        "the render from before the outage"
    );
    assert!(
        fallback.elapsed < AT_ONCE,
        "a failed query is quick, and the render never got past it: {fallback:?}"
    );
    let after_fallback = stats(addr).await;
    assert_eq!(
        count(&after_fallback, "fail_safe_hits"),
        1,
        "{after_fallback}"
    );
    assert_eq!(
        count(&after_fallback, "renders"),
        3,
        "the first render, the failed one of /things/2, the failed one of /things/1: \
         {after_fallback}"
    );

    // Throttled: more readers get the fallback without a render being tried.
    for _ in 0..3 {
        let reply = get(addr, "/things/1").await;
        assert_eq!(
            (reply.status, reply.served()),
            (200, "fail_safe"),
            "{reply:?}"
        );
        assert_eq!(reply.body, first.body);
    }
    let throttled = stats(addr).await;
    assert_eq!(count(&throttled, "fail_safe_hits"), 4, "{throttled}");
    assert_eq!(
        count(&throttled, "renders"),
        3,
        "no render tried: {throttled}"
    );

    let mended = web_support::request(addr, "POST", "/admin/outage", None).await;
    assert_eq!(mended.json()["outage"], false, "{mended:?}");
    // The throttle is still open for ordinary readers; a preview always renders,
    // and what it stores closes the throttle.
    let still = get(addr, "/things/1").await;
    assert_eq!(still.served(), "fail_safe", "{still:?}");
    let preview = get(addr, "/things/1?preview=true").await;
    assert_eq!(preview.status, 200, "{preview:?}");
    assert_ne!(preview.served(), "fail_safe", "{preview:?}");
    assert_ne!(
        preview.json()["rendered_at_ms"],
        rendered_at,
        "rendered again: {preview:?}"
    );
    let recovered = get(addr, "/things/1").await;
    assert_eq!(
        (recovered.status, recovered.served()),
        (200, "hit"),
        "{recovered:?}"
    );
    assert_eq!(recovered.body, preview.body);
    let second = get(addr, "/things/2").await;
    assert_eq!(
        (second.status, second.served()),
        (200, "miss"),
        "{second:?}"
    );
    let last = stats(addr).await;
    assert_eq!(
        count(&last, "renders"),
        5,
        "the preview and /things/2: {last}"
    );
    assert_eq!(count(&last, "fail_safe_hits"), 5, "{last}");
}

/// `--fail-queries` starts the server with its database broken: nothing rendered yet,
/// so every page is a 500 until `POST /admin/outage` mends it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fail_queries_starts_broken() {
    let dir = TempDir::new("broken");
    let db = dir.path().join("things.db");
    let server = WebServer::start(&[
        "--db",
        db.to_str().expect("a UTF-8 path"),
        "--render-ms",
        "0",
        "--fail-queries",
    ]);
    let addr = server.addr;
    let broken = get(addr, "/things/3").await;
    assert_eq!(broken.status, 500, "{broken:?}");
    let mended = web_support::request(addr, "POST", "/admin/outage", None).await;
    assert_eq!(mended.json()["outage"], false, "{mended:?}");
    let page = get(addr, "/things/3").await;
    assert_eq!((page.status, page.served()), (200, "miss"), "{page:?}");
    assert_eq!(body_of(&page), "Holds tea.");
}

/// `--soft-timeout-ms`: once a page has expired, its slow render no longer holds the
/// request: the reader gets the expired render (`fail_safe`) after the soft timeout,
/// and the render goes on and lands for the next reader.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_render_is_answered_by_the_soft_timeout() {
    const SLOW: Duration = Duration::from_millis(1500);
    let dir = TempDir::new("soft");
    let db = dir.path().join("things.db");
    let server = WebServer::start(&[
        "--db",
        db.to_str().expect("a UTF-8 path"),
        "--render-ms",
        &SLOW.as_millis().to_string(),
        "--expires-ms",
        "1000",
        "--soft-timeout-ms",
        "100",
    ]);
    let addr = server.addr;
    let first = get(addr, "/things/1").await;
    assert_eq!(first.served(), "miss", "{first:?}");
    assert!(
        first.elapsed >= SLOW,
        "no fallback yet: it waits: {first:?}"
    );

    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    let answered = loop {
        let reply = get(addr, "/things/1").await;
        if reply.served() != "hit" {
            break reply;
        }
        assert!(std::time::Instant::now() < deadline, "never expired");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(
        (answered.status, answered.served()),
        (200, "fail_safe"),
        "{answered:?}"
    );
    assert_eq!(answered.body, first.body, "the expired render");
    assert!(
        answered.elapsed < SLOW / 2,
        "answered at the soft timeout, not after the render: {answered:?}"
    );

    let landed = stats_when(addr, "the render goes on and lands", |now| {
        count(now, "refreshes_completed") == 1
    })
    .await;
    assert_eq!(count(&landed, "soft_timeouts"), 1, "{landed}");
    assert_eq!(count(&landed, "fail_safe_hits"), 1, "{landed}");
    assert_eq!(count(&landed, "renders"), 2, "{landed}");
    let fresh = get(addr, "/things/1").await;
    assert_eq!(fresh.served(), "hit", "{fresh:?}");
    assert_ne!(
        fresh.json()["rendered_at_ms"],
        first.json()["rendered_at_ms"],
        "the render that went on: {fresh:?}"
    );
}
