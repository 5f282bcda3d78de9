//! The service under load: `examples/web.rs`'s axum + SQLite service (one SQLite
//! connection on the blocking pool, the `updated_at` query on every request, a render
//! that loads the row and then takes the simulated render time), with the cache in
//! front of the render swapped per variant.

use std::net::SocketAddr;
use std::path::{Path as FsPath, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use async_cache_runtime::{Cache, async_cached};
use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::http::header::CONTENT_TYPE;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::serve::ListenerExt;
use cached::macros::cached;
use rusqlite::{Connection, OptionalExtension, params};
use serde_json::json;
use tokio::sync::oneshot;

/// Which cache sits in front of the render.
#[derive(Clone)]
pub enum Variant {
    /// This library: `#[async_cached]` with the row's `updated_at` as the version, in
    /// memory, as in `examples/web.rs`.
    Ours(Cache),
    /// The `cached` crate's `#[cached]` over its `TtlCache` (the TTL is set on the
    /// function's store before the phase): no versions, so an edit shows once the
    /// entry expires; concurrent misses each render.
    Cached,
    /// `moka::future::Cache::try_get_with` with a time to live: concurrent misses of
    /// one key render once; nothing stale is served.
    Moka(moka::future::Cache<i64, Arc<str>>),
    /// Every request renders.
    NoCache,
}

/// One variant's application: the shared database, its cache, its render count.
#[derive(Clone)]
pub struct App {
    pub db: Db,
    pub variant: Variant,
    pub render: Duration,
    /// Renders this variant ran (misses, refreshes, expiries, everything).
    pub renders: Arc<AtomicU64>,
}

impl App {
    pub fn new(db: Db, variant: Variant, render: Duration) -> App {
        App {
            db,
            variant,
            render,
            renders: Arc::default(),
        }
    }

    pub fn renders(&self) -> u64 {
        self.renders.load(Ordering::SeqCst)
    }

    /// The expensive part: what a cache saves.
    async fn render(&self, id: i64) -> Result<Arc<str>, AppError> {
        self.renders.fetch_add(1, Ordering::SeqCst);
        let thing = self.db.load(id).await?;
        tokio::time::sleep(self.render).await; // templates, markdown, joins...
        Ok(json!({
            "id": thing.id,
            "name": thing.name,
            "body": thing.body,
            "updated_at": thing.updated_at,
            "rendered_at_ms": unix_micros() / 1000,
        })
        .to_string()
        .into())
    }

    async fn thing_json(&self, id: i64) -> Result<Arc<str>, AppError> {
        match &self.variant {
            Variant::Ours(cache) => render_ours(cache, self, id).await,
            // The peers run the same per-request query: in the service it is what
            // answers 404 for an unknown id before any cache is asked.
            Variant::Cached => {
                self.db.updated_at(id).await?;
                render_cached(self, id).await
            }
            Variant::Moka(cache) => {
                self.db.updated_at(id).await?;
                cache
                    .try_get_with(id, self.render(id))
                    .await
                    .map_err(|error| (*error).clone())
            }
            Variant::NoCache => {
                self.db.updated_at(id).await?;
                self.render(id).await
            }
        }
    }
}

#[async_cached(
    locator = format!("things/{id}"),
    version = app.db.updated_at(id).await?,
    cache = cache,
)]
async fn render_ours(cache: &Cache, app: &App, id: i64) -> Result<Arc<str>, AppError> {
    app.render(id).await
}

#[cached(
    ty = "cached::TtlCache<i64, Arc<str>>",
    create = r#"{ cached::TtlCache::builder().ttl(Duration::from_secs(1)).build().expect("a TTL store") }"#,
    key = "i64",
    convert = r#"{ id }"#
)]
async fn render_cached(app: &App, id: i64) -> Result<Arc<str>, AppError> {
    app.render(id).await
}

/// Empties the `#[cached]` function's store and gives it `ttl` for the next phase.
pub async fn reset_cached(ttl: Duration) {
    use cached::{CacheTtl, Cached};
    let mut store = RENDER_CACHED.write().await;
    store.cache_clear();
    store.set_ttl(ttl);
}

async fn get_thing(State(app): State<App>, Path(id): Path<i64>) -> Response {
    match app.thing_json(id).await {
        Ok(json) => ([(CONTENT_TYPE, "application/json")], json.to_string()).into_response(),
        Err(error) => error.into_response(),
    }
}

/// A running variant: its address, and how to stop it.
pub struct Server {
    pub addr: SocketAddr,
    stop: oneshot::Sender<()>,
    done: tokio::task::JoinHandle<()>,
}

impl Server {
    /// Serves `app` on a free loopback port (on the current runtime).
    pub async fn start(app: App) -> Server {
        let router = Router::new()
            .route("/things/{id}", get(get_thing))
            .with_state(app);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("a loopback port");
        let addr = listener.local_addr().expect("the listener's address");
        let listener = listener.tap_io(|tcp| {
            let _ = tcp.set_nodelay(true);
        });
        let (stop, stopped) = oneshot::channel();
        let done = tokio::spawn(async move {
            axum::serve(listener, router)
                .with_graceful_shutdown(async {
                    let _ = stopped.await;
                })
                .await
                .expect("serving");
        });
        Server { addr, stop, done }
    }

    /// Stops accepting, lets in-flight requests finish.
    pub async fn stop(self) {
        let _ = self.stop.send(());
        self.done.await.expect("the server task");
    }
}

#[derive(Clone, Debug)]
pub enum AppError {
    NotFound(i64),
    Database(String),
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        match self {
            AppError::NotFound(id) => {
                (StatusCode::NOT_FOUND, format!("no thing with id {id}")).into_response()
            }
            AppError::Database(message) => {
                (StatusCode::INTERNAL_SERVER_ERROR, message).into_response()
            }
        }
    }
}

impl From<rusqlite::Error> for AppError {
    fn from(error: rusqlite::Error) -> Self {
        AppError::Database(error.to_string())
    }
}

// ---------------------------------------------------------------------------------
// The database, as in `examples/web.rs`: one SQLite connection, on the blocking pool.

pub struct Thing {
    pub id: i64,
    pub name: String,
    pub body: String,
    pub updated_at: i64,
}

#[derive(Clone)]
pub struct Db {
    conn: Arc<Mutex<Connection>>,
    path: Arc<PathBuf>,
}

fn unix_micros() -> i64 {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    i64::try_from(now.as_micros()).unwrap_or(i64::MAX)
}

impl Db {
    /// A new database file at `path` holding things `1..=things`.
    pub fn create(path: &FsPath, things: usize) -> rusqlite::Result<Db> {
        let _ = std::fs::remove_file(path);
        let conn = Connection::open(path)?;
        conn.busy_timeout(Duration::from_secs(5))?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.execute_batch(
            "CREATE TABLE things (
                 id INTEGER PRIMARY KEY,
                 name TEXT NOT NULL,
                 body TEXT NOT NULL,
                 updated_at INTEGER NOT NULL
             );",
        )?;
        let now = unix_micros();
        conn.execute_batch("BEGIN")?;
        for id in 1..=things as i64 {
            conn.execute(
                "INSERT INTO things (id, name, body, updated_at) VALUES (?1, ?2, ?3, ?4)",
                params![
                    id,
                    format!("thing {id}"),
                    format!("The body of thing {id}."),
                    now
                ],
            )?;
        }
        conn.execute_batch("COMMIT")?;
        Ok(Db {
            conn: Arc::new(Mutex::new(conn)),
            path: Arc::new(path.to_owned()),
        })
    }

    /// Removes the database files (the connection must be the last handle).
    pub fn remove(self) {
        let path = self.path.clone();
        drop(self);
        for suffix in ["", "-wal", "-shm"] {
            let mut name = path.as_os_str().to_owned();
            name.push(suffix);
            let _ = std::fs::remove_file(name);
        }
    }

    async fn call<R: Send + 'static>(
        &self,
        query: impl FnOnce(&Connection) -> Result<R, AppError> + Send + 'static,
    ) -> Result<R, AppError> {
        let conn = self.conn.clone();
        tokio::task::spawn_blocking(move || {
            let conn = conn.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            query(&conn)
        })
        .await
        .map_err(|error| AppError::Database(error.to_string()))?
    }

    /// The version: a cheap query by primary key.
    pub async fn updated_at(&self, id: i64) -> Result<i64, AppError> {
        self.call(move |conn| {
            conn.query_row("SELECT updated_at FROM things WHERE id = ?1", [id], |row| {
                row.get(0)
            })
            .optional()?
            .ok_or(AppError::NotFound(id))
        })
        .await
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

    /// Edits a thing's body; `updated_at` becomes now and always grows. The row is
    /// read back once the `UPDATE` has run to completion: a `RETURNING` row read by
    /// `query_row` comes before the statement's commit, whose failure would then go
    /// unseen, and the benchmark would wait for an edit that never happened.
    pub async fn edit(&self, id: i64, body: String) -> Result<Thing, AppError> {
        self.call(move |conn| {
            let changed = conn.execute(
                "UPDATE things SET body = ?1, updated_at = max(?2, updated_at + 1) WHERE id = ?3",
                params![body, unix_micros(), id],
            )?;
            if changed == 0 {
                return Err(AppError::NotFound(id));
            }
            Ok(conn.query_row(
                "SELECT id, name, body, updated_at FROM things WHERE id = ?1",
                [id],
                thing_from_row,
            )?)
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

/// One edit the editor made.
#[derive(Clone, Copy, Debug)]
pub struct Edit {
    pub id: i64,
    pub updated_at: i64,
    /// When the editor sent the `UPDATE`.
    pub started: Instant,
    /// When it returned (committed).
    pub committed: Instant,
}

/// What the editor did.
#[derive(Debug, Default)]
pub struct Edits {
    pub made: Vec<Edit>,
    /// Edits the database refused (the first few messages are kept).
    pub failed: usize,
    pub failures: Vec<String>,
}

/// Every `every`, edits a thing drawn uniformly from `1..=popular` (by `rng`), until
/// `stop` resolves.
pub async fn editor(
    db: Db,
    popular: usize,
    every: Duration,
    mut rng: test_support::Rng,
    mut stop: oneshot::Receiver<()>,
) -> Edits {
    let mut edits = Edits::default();
    let mut ticks = tokio::time::interval(every);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    ticks.tick().await;
    loop {
        tokio::select! {
            _ = &mut stop => return edits,
            _ = ticks.tick() => {}
        }
        let id = 1 + rng.below(popular as u64) as i64;
        let started = Instant::now();
        let body = format!("The body of thing {id}, edit {}.", edits.made.len() + 1);
        match db.edit(id, body).await {
            Ok(thing) => edits.made.push(Edit {
                id,
                updated_at: thing.updated_at,
                started,
                committed: Instant::now(),
            }),
            Err(error) => {
                edits.failed += 1;
                if edits.failures.len() < 5 {
                    edits.failures.push(format!("{error:?}"));
                }
            }
        }
    }
}
