//! A web service whose pages come from a database: axum + SQLite, each thing's JSON
//! rendered by an expensive `#[async_cached]` function whose version is the row's
//! `updated_at`.
//!
//! ```text
//! cargo run --example web                         # http://127.0.0.1:3000
//! cargo run --example web -- --addr 127.0.0.1:8080 --db /tmp/things.db --render-ms 500
//! cargo run --example web --features redis -- --redis redis://127.0.0.1:6379/
//! cargo run --example web -- --expires-ms 3000    # break the database: POST /admin/outage
//! cargo run --example web --features redis -- --redis-cluster redis://127.0.0.1:7000/,redis://127.0.0.1:7001/
//! ```
//!
//! Routes:
//!
//! - `GET /things/{id}`: the thing as JSON, with
//!   `x-cache: hit | stale | miss | sync | fail_safe`. After an edit the old JSON is
//!   served at once (`stale`) while the new one renders in the background, once,
//!   however many requests see it stale.
//! - `GET /things/{id}?preview=true`: an editor's view, rendered now if outdated (`sync`).
//! - `PUT /things/{id}` with `{"name": ..., "body": ...}`: edits the row, bumps `updated_at`.
//! - `POST /admin/outage`: breaks the database on purpose (every query fails), or
//!   mends it if it is broken; answers `{"outage": true | false}`. During an outage a
//!   page rendered before it is still served: as a `hit` until it expires
//!   (`--expires-ms`), then as its fallback (`fail_safe`, kept `--fail-safe-ms` past
//!   its expiry); a page never rendered is an honest 500. After one failed render of a
//!   page, its readers get the fallback for `--throttle-ms` without a render being
//!   tried; `?preview=true` always tries.
//! - `GET /stats`: the cache's counters, and how many renders this process ran.
//! - `GET /metrics`: the cache's metrics (`async_cache_*`) in the Prometheus text format.
//!
//! Ctrl-C (or SIGTERM) stops accepting requests, lets in-flight ones finish, and waits
//! for the background refreshes still running before exiting.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use async_cache_runtime::store::{Backend, Store};
use async_cache_runtime::{Cache, CacheBuilder, Served, Stats, async_cached};
use axum::Json;
use axum::Router;
use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::header::CONTENT_TYPE;
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use rusqlite::{Connection, OptionalExtension, params};
use serde::{Deserialize, Serialize};
use serde_json::json;

const USAGE: &str = "\
usage: web [--addr HOST:PORT] [--db PATH] [--render-ms N]
           [--redis URL | --redis-cluster URL,URL,...]
           [--expires-ms N] [--fail-safe-ms N] [--throttle-ms N] [--soft-timeout-ms N]
           [--fail-queries]

  --addr HOST:PORT     where to listen (default 127.0.0.1:3000; port 0 picks a free one)
  --db PATH            the SQLite database (default: a file in the temporary directory)
  --render-ms N        the simulated cost of rendering a thing (default 200)
  --redis URL          share the cache through Redis, e.g. redis://127.0.0.1:6379/
                       (needs `--features redis`)
  --redis-cluster URL,URL,...
                       share the cache through a Redis Cluster, given some of its
                       nodes (needs `--features redis`)
  --expires-ms N       a render expires this long after it landed (default 60000)
  --fail-safe-ms N     an expired render is kept this much longer, as the fallback
                       served when rendering fails (default 3600000)
  --throttle-ms N      after a fallback is served, a page's readers get it this long
                       without a render being tried (default 5000)
  --soft-timeout-ms N  a reader waiting this long on a render of a page that has a
                       fallback gets the fallback; the render goes on (default 1000)
  --fail-queries       start with the database broken (as after POST /admin/outage)";

/// What the command line asks for.
#[derive(Debug)]
struct Config {
    addr: SocketAddr,
    db: PathBuf,
    render: Duration,
    redis: Option<String>,
    expires_in: Duration,
    fail_safe: Duration,
    throttle: Duration,
    soft_timeout: Duration,
    fail_queries: bool,
    /// `--redis-cluster`: some nodes of the cluster (empty: none given).
    redis_cluster: Vec<String>,
}

impl Config {
    fn parse(mut args: impl Iterator<Item = String>) -> Result<Config, String> {
        let mut config = Config {
            addr: SocketAddr::from(([127, 0, 0, 1], 3000)),
            db: std::env::temp_dir().join("async-cache-web-example.sqlite3"),
            render: Duration::from_millis(200),
            redis: None,
            expires_in: Duration::from_secs(60),
            fail_safe: Duration::from_secs(3600),
            throttle: Duration::from_secs(5),
            soft_timeout: Duration::from_secs(1),
            fail_queries: false,
            redis_cluster: Vec::new(),
        };
        while let Some(flag) = args.next() {
            if flag == "-h" || flag == "--help" {
                return Err(String::new());
            }
            if flag == "--fail-queries" {
                config.fail_queries = true;
                continue;
            }
            let mut value = || args.next().ok_or_else(|| format!("{flag} needs a value"));
            match flag.as_str() {
                "--addr" => {
                    let text = value()?;
                    config.addr = text.parse().map_err(|_| {
                        format!("--addr {text:?}: expected HOST:PORT, e.g. 127.0.0.1:3000")
                    })?;
                }
                "--db" => config.db = PathBuf::from(value()?),
                "--render-ms" => config.render = millis(&flag, &value()?)?,
                "--redis" => config.redis = Some(value()?),
                "--expires-ms" => config.expires_in = millis(&flag, &value()?)?,
                "--fail-safe-ms" => config.fail_safe = millis(&flag, &value()?)?,
                "--throttle-ms" => config.throttle = millis(&flag, &value()?)?,
                "--soft-timeout-ms" => config.soft_timeout = millis(&flag, &value()?)?,
                "--redis-cluster" => {
                    config.redis_cluster = value()?.split(',').map(str::to_owned).collect();
                }
                other => return Err(format!("unknown argument {other:?}")),
            }
        }
        Ok(config)
    }

    /// The cache's options of time and failure, on either store's builder.
    fn timed<S: Backend>(&self, builder: CacheBuilder<S>) -> CacheBuilder<S> {
        builder
            .name("things")
            .expires_in(self.expires_in)
            .fail_safe(self.fail_safe)
            .fail_safe_throttle(self.throttle)
            .soft_timeout(self.soft_timeout)
    }
}

fn millis(flag: &str, text: &str) -> Result<Duration, String> {
    let ms: u64 = text
        .parse()
        .map_err(|_| format!("{flag} {text:?}: expected milliseconds"))?;
    Ok(Duration::from_millis(ms))
}

fn main() -> ExitCode {
    ExitCode::from(run(std::env::args().skip(1)))
}

/// Parses the arguments and serves until Ctrl-C or SIGTERM; the exit status.
/// (The end-to-end test runs this too, in a process of its own.)
pub fn run(args: impl Iterator<Item = String>) -> u8 {
    let config = match Config::parse(args) {
        Ok(config) => config,
        Err(message) if message.is_empty() => {
            println!("{USAGE}");
            return 0;
        }
        Err(message) => {
            eprintln!("error: {message}\n\n{USAGE}");
            return 2;
        }
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    match runtime.block_on(serve(config)) {
        Ok(()) => 0,
        Err(message) => {
            eprintln!("error: {message}");
            1
        }
    }
}

async fn serve(config: Config) -> Result<(), String> {
    let db = Db::open(&config.db)
        .map_err(|error| format!("opening the database {}: {error}", config.db.display()))?;
    db.outage.store(config.fail_queries, Ordering::SeqCst);
    // Before the cache is built: its metric handles bind to the recorder of that time.
    let metrics = prometheus()?;
    let tier = match &config.redis {
        None if config.redis_cluster.is_empty() => {
            Tier::Memory(config.timed(Cache::builder()).build())
        }
        #[cfg(feature = "redis")]
        Some(url) => Tier::Shared(config.timed(Cache::builder().redis(url)).build()),
        #[cfg(feature = "redis")]
        None => {
            let urls: Vec<&str> = config.redis_cluster.iter().map(String::as_str).collect();
            Tier::Shared(config.timed(Cache::builder().redis_cluster(&urls)).build())
        }
        #[cfg(not(feature = "redis"))]
        _ => {
            return Err("--redis needs the redis feature: \
                        cargo run --example web --features redis -- --redis URL"
                .into());
        }
    };
    let app = App {
        db,
        tier,
        render: config.render,
        renders: Arc::default(),
    };
    let router = Router::new()
        .route("/things/{id}", get(get_thing).put(put_thing))
        .route("/admin/outage", post(toggle_outage))
        .route("/stats", get(stats))
        .route("/metrics", get(move || scrape(metrics.clone())))
        .with_state(app.clone());
    let listener = tokio::net::TcpListener::bind(config.addr)
        .await
        .map_err(|error| format!("listening on {}: {error}", config.addr))?;
    let addr = listener.local_addr().map_err(|error| error.to_string())?;
    match &config.redis {
        Some(url) => println!("cache: shared through {url}"),
        None if !config.redis_cluster.is_empty() => println!(
            "cache: shared through the Redis Cluster of {}",
            config.redis_cluster.join(", ")
        ),
        None => println!("cache: in memory"),
    }
    println!("database: {}", config.db.display());
    if config.fail_queries {
        println!("database outage: every query fails (POST /admin/outage mends it)");
    }
    println!("listening on http://{addr}");

    axum::serve(listener, router)
        .with_graceful_shutdown(shutdown_signal())
        .await
        .map_err(|error| format!("serving: {error}"))?;

    println!("draining background refreshes...");
    app.wait_for_refreshes().await;
    println!("drained; final stats: {}", app.stats_json());
    Ok(())
}

/// Installs the Prometheus recorder, with a task that keeps its histograms bounded.
fn prometheus() -> Result<metrics_exporter_prometheus::PrometheusHandle, String> {
    let handle = metrics_exporter_prometheus::PrometheusBuilder::new()
        .install_recorder()
        .map_err(|error| format!("installing the metrics recorder: {error}"))?;
    let upkeep = handle.clone();
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(Duration::from_secs(5)).await;
            upkeep.run_upkeep();
        }
    });
    Ok(handle)
}

/// `GET /metrics`: the Prometheus text exposition format.
async fn scrape(metrics: metrics_exporter_prometheus::PrometheusHandle) -> impl IntoResponse {
    (
        [(CONTENT_TYPE, "text/plain; version=0.0.4")],
        metrics.render(),
    )
}

/// Resolves on Ctrl-C or (on Unix) SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = terminate => {}
    }
    println!("shutting down: finishing in-flight requests");
}

// ---------------------------------------------------------------------------------
// The application: a database, a cache, and the expensive render.

#[derive(Clone)]
struct App {
    db: Db,
    tier: Tier,
    render: Duration,
    /// Renders this process ran (misses, sync refreshes and background refreshes).
    renders: Arc<AtomicU64>,
}

/// Where rendered things are cached: this process's memory, or Redis.
#[derive(Clone)]
enum Tier {
    Memory(Cache),
    #[cfg(feature = "redis")]
    Shared(Cache<async_cache_runtime::Redis>),
}

impl App {
    /// The thing's JSON, and how the cache served it.
    async fn thing_json(
        &self,
        id: i64,
        preview: bool,
    ) -> (Result<String, AppError>, Option<Served>) {
        match &self.tier {
            Tier::Memory(cache) => Served::capture(render_thing(cache, self, id, preview)).await,
            #[cfg(feature = "redis")]
            Tier::Shared(cache) => Served::capture(render_thing(cache, self, id, preview)).await,
        }
    }

    /// The expensive part: what the cache saves.
    async fn render(&self, id: i64) -> Result<String, AppError> {
        self.renders.fetch_add(1, Ordering::SeqCst);
        let started = Instant::now();
        let thing = self.db.load(id).await.inspect_err(|error| {
            println!("rendering things/{id} failed: {error:?}");
        })?;
        tokio::time::sleep(self.render).await; // templates, markdown, joins...
        let json = json!({
            "id": thing.id,
            "name": thing.name,
            "body": thing.body,
            "updated_at": thing.updated_at,
            "rendered_at_ms": unix_micros() / 1000,
            "rendered_by_pid": std::process::id(),
        })
        .to_string();
        println!(
            "rendered things/{id} (updated_at {}) in {:.0?}",
            thing.updated_at,
            started.elapsed()
        );
        Ok(json)
    }

    fn stats(&self) -> Stats {
        match &self.tier {
            Tier::Memory(cache) => cache.stats(),
            #[cfg(feature = "redis")]
            Tier::Shared(cache) => cache.stats(),
        }
    }

    async fn wait_for_refreshes(&self) {
        match &self.tier {
            Tier::Memory(cache) => cache.wait_for_refreshes().await,
            #[cfg(feature = "redis")]
            Tier::Shared(cache) => cache.wait_for_refreshes().await,
        }
    }

    /// `Stats` is not serde: its fields, by hand, plus this process's render count.
    fn stats_json(&self) -> serde_json::Value {
        let s = self.stats();
        json!({
            "hits": s.hits,
            "stale_hits": s.stale_hits,
            "misses": s.misses,
            "sync_refreshes": s.sync_refreshes,
            "refreshes_started": s.refreshes_started,
            "refreshes_completed": s.refreshes_completed,
            "refreshes_elsewhere": s.refreshes_elsewhere,
            "refreshes_failed": s.refreshes_failed,
            "refreshes_dropped": s.refreshes_dropped,
            "store_errors": s.store_errors,
            "fail_safe_hits": s.fail_safe_hits,
            "soft_timeouts": s.soft_timeouts,
            "refreshes_backed_off": s.refreshes_backed_off,
            "renders": self.renders.load(Ordering::SeqCst),
        })
    }
}

/// A thing's JSON, cached under `things/{id}` for the row's `updated_at`. The version
/// is read per request (a cheap indexed query); an unknown id fails there with 404,
/// before the cache is asked, so nothing is cached for it. While the database is
/// down the version cannot be read and is taken as [`UNKNOWN_VERSION`]. `preview`
/// renders an outdated entry now instead of serving it stale. One function for either
/// store: this process's memory, or the shared tier (`--redis`, one render across
/// every process), which also needs the version and the JSON to be serde (they are).
#[async_cached(
    locator = format!("things/{id}"),
    version = app.db.updated_at_or_unknown(id).await?,
    force_sync = preview,
    cache = cache,
)]
async fn render_thing<S: Store<i64, String>>(
    cache: &Cache<S>,
    app: &App,
    id: i64,
    preview: bool,
) -> Result<String, AppError> {
    app.render(id).await
}

// ---------------------------------------------------------------------------------
// Handlers.

#[derive(Deserialize)]
struct ThingQuery {
    preview: Option<bool>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Edit {
    name: String,
    body: String,
}

async fn get_thing(
    State(app): State<App>,
    Path(id): Path<String>,
    query: Result<Query<ThingQuery>, QueryRejection>,
) -> Result<Response, AppError> {
    let id = parse_id(&id)?;
    let Query(query) = query.map_err(|rejection| {
        AppError::BadRequest(format!(
            "malformed query: {} (expected ?preview=true or ?preview=false)",
            rejection.body_text()
        ))
    })?;
    let (json, served) = app.thing_json(id, query.preview.unwrap_or(false)).await;
    let mut response = ([(CONTENT_TYPE, "application/json")], json?).into_response();
    if let Some(served) = served {
        response
            .headers_mut()
            .insert("x-cache", HeaderValue::from_static(served.as_str()));
    }
    Ok(response)
}

async fn put_thing(
    State(app): State<App>,
    Path(id): Path<String>,
    edit: Result<Json<Edit>, JsonRejection>,
) -> Result<Json<Thing>, AppError> {
    let id = parse_id(&id)?;
    let Json(edit) = edit.map_err(|rejection| {
        AppError::BadInput(
            rejection.status(),
            format!(
                "{} (expected a JSON object {{\"name\": string, \"body\": string}} \
                 with content-type application/json)",
                rejection.body_text()
            ),
        )
    })?;
    Ok(Json(app.db.update(id, edit).await?))
}

/// `POST /admin/outage`: breaks every query of the database, or mends them.
async fn toggle_outage(State(app): State<App>) -> Json<serde_json::Value> {
    let outage = !app.db.outage.fetch_xor(true, Ordering::SeqCst);
    println!("database outage: {}", if outage { "on" } else { "off" });
    Json(json!({ "outage": outage }))
}

async fn stats(State(app): State<App>) -> Json<serde_json::Value> {
    Json(app.stats_json())
}

fn parse_id(text: &str) -> Result<i64, AppError> {
    match text.parse::<i64>() {
        Ok(id) if id > 0 => Ok(id),
        _ => Err(AppError::BadRequest(format!(
            "malformed id {text:?}: expected a positive integer, as in /things/1"
        ))),
    }
}

/// Every failure, answered as `{"error": "..."}` with its status.
#[derive(Debug)]
enum AppError {
    NotFound(i64),
    BadRequest(String),
    /// A 4xx other than 400 (415 without a JSON content type, 422 for wrong fields).
    BadInput(StatusCode, String),
    Database(String),
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        let (status, message) = match self {
            AppError::NotFound(id) => (StatusCode::NOT_FOUND, format!("no thing with id {id}")),
            AppError::BadRequest(message) => (StatusCode::BAD_REQUEST, message),
            AppError::BadInput(status, message) => (status, message),
            AppError::Database(message) => (
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("database error: {message}"),
            ),
        };
        (status, Json(json!({ "error": message }))).into_response()
    }
}

impl From<rusqlite::Error> for AppError {
    fn from(error: rusqlite::Error) -> Self {
        AppError::Database(error.to_string())
    }
}

// ---------------------------------------------------------------------------------
// The database: one SQLite connection, used on the blocking pool.

#[derive(Clone, Debug, Serialize)]
struct Thing {
    id: i64,
    name: String,
    body: String,
    updated_at: i64,
}

#[derive(Clone)]
struct Db {
    conn: Arc<Mutex<Connection>>,
    /// Set by `POST /admin/outage` (or `--fail-queries`): every query fails.
    outage: Arc<AtomicBool>,
}

/// The version asked for while the database cannot say: older than any row's
/// `updated_at` (microseconds since 1970), so whatever render is stored counts as
/// current (a hit until it expires, then its fallback), and a render made for it could
/// never replace a newer one.
const UNKNOWN_VERSION: i64 = 0;

fn unix_micros() -> i64 {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    i64::try_from(now.as_micros()).unwrap_or(i64::MAX)
}

impl Db {
    /// Opens (or creates) the database and seeds three things if they are missing.
    /// Several processes may share one file.
    fn open(path: &std::path::Path) -> rusqlite::Result<Db> {
        let conn = Connection::open(path)?;
        conn.busy_timeout(Duration::from_secs(5))?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.execute_batch(
            "CREATE TABLE IF NOT EXISTS things (
                 id INTEGER PRIMARY KEY,
                 name TEXT NOT NULL,
                 body TEXT NOT NULL,
                 updated_at INTEGER NOT NULL
             );",
        )?;
        let now = unix_micros();
        for (id, name, body) in [
            (1, "kettle", "Boils water."),
            (2, "teapot", "Short and stout."),
            (3, "cup", "Holds tea."),
        ] {
            conn.execute(
                "INSERT OR IGNORE INTO things (id, name, body, updated_at) VALUES (?1, ?2, ?3, ?4)",
                params![id, name, body, now],
            )?;
        }
        Ok(Db {
            conn: Arc::new(Mutex::new(conn)),
            outage: Arc::default(),
        })
    }

    async fn call<R: Send + 'static>(
        &self,
        query: impl FnOnce(&Connection) -> Result<R, AppError> + Send + 'static,
    ) -> Result<R, AppError> {
        if self.outage.load(Ordering::SeqCst) {
            return Err(AppError::Database(
                "the database is down (POST /admin/outage)".into(),
            ));
        }
        let conn = self.conn.clone();
        tokio::task::spawn_blocking(move || {
            let conn = conn.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            query(&conn)
        })
        .await
        .map_err(|error| AppError::Database(error.to_string()))?
    }

    /// The version: a cheap query by primary key.
    async fn updated_at(&self, id: i64) -> Result<i64, AppError> {
        self.call(move |conn| {
            conn.query_row("SELECT updated_at FROM things WHERE id = ?1", [id], |row| {
                row.get(0)
            })
            .optional()?
            .ok_or(AppError::NotFound(id))
        })
        .await
    }

    /// The version, or [`UNKNOWN_VERSION`] if the database cannot be read: an unknown
    /// id is still a 404 while it can.
    async fn updated_at_or_unknown(&self, id: i64) -> Result<i64, AppError> {
        match self.updated_at(id).await {
            Err(AppError::Database(_)) => Ok(UNKNOWN_VERSION),
            other => other,
        }
    }

    async fn load(&self, id: i64) -> Result<Thing, AppError> {
        self.call(move |conn| {
            conn.query_row(
                "SELECT id, name, body, updated_at FROM things WHERE id = ?1",
                [id],
                thing_from_row,
            )
            .optional()?
            .ok_or(AppError::NotFound(id))
        })
        .await
    }

    /// Edits a thing; `updated_at` becomes now, and always grows (even if the clock
    /// does not): `max(now, updated_at + 1)`.
    async fn update(&self, id: i64, edit: Edit) -> Result<Thing, AppError> {
        self.call(move |conn| {
            conn.query_row(
                "UPDATE things SET name = ?1, body = ?2, updated_at = max(?3, updated_at + 1)
                 WHERE id = ?4
                 RETURNING id, name, body, updated_at",
                params![edit.name, edit.body, unix_micros(), id],
                thing_from_row,
            )
            .optional()?
            .ok_or(AppError::NotFound(id))
        })
        .await
    }
}

fn thing_from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<Thing> {
    Ok(Thing {
        id: row.get(0)?,
        name: row.get(1)?,
        body: row.get(2)?,
        updated_at: row.get(3)?,
    })
}
