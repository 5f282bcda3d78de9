//! The load benchmark: the web example's service under traffic while things change,
//! this library against the caches a Rust developer would pick instead.
//!
//! ```text
//! cargo run --release -p benchmarks --bin load            # a few minutes
//! cargo run --release -p benchmarks --bin load -- --smoke # seconds (run by a test)
//! ```
//!
//! The service is `examples/web.rs`'s (axum + SQLite, the `updated_at` query on every
//! request, a render that loads the row and takes [`Config::render`]), with the cache
//! in front of the render swapped per variant ([`service::Variant`]): ours
//! (`#[async_cached]`, versioned by `updated_at`), `cached`'s `#[cached]` over a
//! `TtlCache`, `moka::future::Cache::try_get_with` with a time to live, and no cache.
//! Each TTL variant runs twice: with the TTL that, by the model in [`matched_ttl`],
//! gives ours' mean staleness, and with a short one ([`Config::short_ttl`]).
//!
//! Each variant gets a phase of its own on a fresh server (one at a time, so none
//! competes with another for the CPU), started cold and filled by one request per
//! thing (the cold misses); then the same request schedule: an open loop at
//! [`Config::rate`] over [`Config::things`] things with Zipf popularity (thing 1 the
//! most popular), while an editor changes a thing drawn from the [`Config::popular`]
//! most popular every [`Config::edit_every`] (the same edits in every phase). Ours
//! also runs once without edits, its own baseline.
//!
//! Measured per variant: answers per second, latency percentiles (from when each
//! request was due), renders, and staleness: for each edit, the time from its commit
//! until the first answer carrying the new `updated_at`. Then its capacity: a closed
//! loop of [`Config::connections`] clients for [`Config::capacity_for`], edits going
//! on, counting answers per second.

pub mod client;
pub mod service;

use std::fmt::Write as _;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use async_cache_runtime::Cache;
use serde::Serialize;
use test_support::Rng;
use tokio::sync::oneshot;

use self::client::Seen;
use self::service::{App, Db, Edit, Edits, Server, Variant};

/// What to run.
#[derive(Clone, Debug)]
pub struct Config {
    /// Things in the database (`1..=things`).
    pub things: usize,
    /// The editor edits one of things `1..=popular`.
    pub popular: usize,
    /// Zipf exponent of the popularity (thing `k` is read in proportion to `1/k^s`).
    pub zipf: f64,
    /// Requests per second, offered whatever the answers do.
    pub rate: f64,
    /// How long each variant's load runs.
    pub duration: Duration,
    /// The simulated render time.
    pub render: Duration,
    /// Time between two edits.
    pub edit_every: Duration,
    /// The short TTL of the TTL variants.
    pub short_ttl: Duration,
    /// How long each variant's closed loop (its capacity) runs, after its load.
    pub capacity_for: Duration,
    /// Connections of the closed loop.
    pub connections: usize,
    /// Seeds the request schedule and the edits.
    pub seed: u64,
    /// Pin the server and the load generator to different CPUs.
    pub pin: bool,
}

impl Config {
    /// The full run: a few minutes.
    pub fn full() -> Config {
        Config {
            things: 1_000,
            popular: 10,
            zipf: 1.0,
            rate: 2_000.0,
            duration: Duration::from_secs(20),
            render: Duration::from_millis(200),
            edit_every: Duration::from_millis(100),
            short_ttl: Duration::from_secs(1),
            capacity_for: Duration::from_secs(4),
            connections: 64,
            seed: 0x5EED_0016,
            pin: true,
        }
    }

    /// Seconds long: every variant and every measurement, at a low rate.
    pub fn smoke() -> Config {
        Config {
            things: 200,
            popular: 5,
            rate: 300.0,
            duration: Duration::from_secs(2),
            render: Duration::from_millis(50),
            short_ttl: Duration::from_millis(500),
            capacity_for: Duration::from_millis(500),
            connections: 16,
            ..Config::full()
        }
    }

    /// Edits stop this long before a phase's load ends, so the last edit has time
    /// to show on every variant (the short TTL plus two renders).
    fn edit_tail(&self) -> Duration {
        self.short_ttl + self.render * 2 + Duration::from_millis(100)
    }
}

/// A uniform draw in `[0, 1)`.
fn unit(rng: &mut Rng) -> f64 {
    (rng.next_u64() >> 11) as f64 / (1_u64 << 53) as f64
}

/// Zipf popularity over things `1..=n`: their share of requests, and a sampler.
pub struct Zipf {
    cdf: Vec<f64>,
}

impl Zipf {
    pub fn new(n: usize, s: f64) -> Zipf {
        let weights: Vec<f64> = (1..=n).map(|k| 1.0 / (k as f64).powf(s)).collect();
        let total: f64 = weights.iter().sum();
        let mut sum = 0.0;
        let cdf = weights
            .iter()
            .map(|w| {
                sum += w / total;
                sum
            })
            .collect();
        Zipf { cdf }
    }

    /// Thing `k`'s share of the requests.
    pub fn share(&self, k: usize) -> f64 {
        self.cdf[k - 1] - if k > 1 { self.cdf[k - 2] } else { 0.0 }
    }

    pub fn sample(&self, rng: &mut Rng) -> i64 {
        let u = unit(rng);
        (self
            .cdf
            .partition_point(|&c| c <= u)
            .min(self.cdf.len() - 1)
            + 1) as i64
    }
}

/// Which cache a phase runs, and with what TTL.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    Ours,
    Cached,
    Moka,
    NoCache,
}

/// What the TTL of a TTL variant is.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TtlChoice {
    /// The TTL the model gives for ours' mean staleness.
    Matched,
    /// The model has no TTL that reaches ours' mean staleness: the smallest tried.
    Unreachable,
    /// [`Config::short_ttl`].
    Short,
}

/// One variant's figures.
#[derive(Clone, Debug, Serialize)]
pub struct Phase {
    pub label: String,
    pub kind: Kind,
    pub edits_on: bool,
    pub ttl_ms: Option<f64>,
    pub ttl_choice: Option<TtlChoice>,
    pub offered_rps: f64,
    /// Answers per second over the phase (due time of the first request to the last
    /// answer).
    pub answered_rps: f64,
    pub answered: u64,
    /// Answers per second of the closed loop ([`Config::connections`] clients, each
    /// asking again as soon as answered).
    pub capacity_rps: f64,
    pub errors: u64,
    pub error_samples: Vec<String>,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub p999_ms: f64,
    pub max_ms: f64,
    /// Renders of the cold fill (one request per thing on an empty cache).
    pub cold_renders: u64,
    /// Renders from the start of the recorded load until its refreshes ended (the
    /// warm-up between the cold fill and the load is in neither count).
    pub load_renders: u64,
    pub edits: usize,
    /// Edits the database refused (not in `edits`).
    pub edits_failed: usize,
    /// Edits after whose start at least one answer for their thing arrived.
    pub edits_read: usize,
    /// Edits whose new `updated_at` was in some answer.
    pub edits_seen: usize,
    pub staleness_mean_ms: Option<f64>,
    pub staleness_p50_ms: Option<f64>,
    pub staleness_p99_ms: Option<f64>,
    pub staleness_min_ms: Option<f64>,
    pub staleness_max_ms: Option<f64>,
}

/// The whole run.
#[derive(Clone, Debug, Serialize)]
pub struct Report {
    pub things: usize,
    pub popular: usize,
    pub zipf: f64,
    pub rate: f64,
    pub duration_s: f64,
    pub render_ms: f64,
    pub edit_every_ms: f64,
    pub short_ttl_ms: f64,
    pub connections: usize,
    /// The longest gap between two reads of a popular thing, on average: the least
    /// popular one's `1 / (rate * share)`.
    pub popular_interval_ms: f64,
    pub pinning: String,
    /// CPUs the process could run on.
    pub cpus: usize,
    pub phases: Vec<Phase>,
}

/// The TTL that gives a TTL cache ours' mean staleness `S`, by a model of each, with
/// `R` the render time and `δ` the wait for a thing's next read:
///
/// - ours shows an edit after the read that sees it (`δ`), its refresh (`R`) and the
///   next read (`δ`): `S = R + D`, where `D ≈ 2δ` is measured (`S - R`);
/// - `cached` (every read in an expiry's render window renders) catches an edit made
///   while its entry lives after the rest of that life, then a read and a render, and
///   an edit made in the window after a read and a render:
///   `S ≈ T² / (2 (T + R)) + δ + R`;
/// - moka (one render per expiry, from the row as it is when the render starts)
///   re-renders a thing every `T + δ + R`, so an edit waits half of that on average,
///   then a render: `S = (T + δ + R) / 2 + R`, never below `1.5 R`.
///
/// Solved for `T` with `δ = D / 2`; when no `T` reaches `S`, the smallest TTL tried
/// (10 ms).
pub fn matched_ttl(kind: Kind, ours_mean: Duration, render: Duration) -> (Duration, TtlChoice) {
    let floor = 0.010;
    let r = render.as_secs_f64();
    let d = (ours_mean.as_secs_f64() - r).max(0.0);
    let wait = d / 2.0;
    let t = match kind {
        // T² / (2 (T + R)) = D - δ, a quadratic in T.
        Kind::Cached => wait + (wait * wait + 2.0 * wait * r).sqrt(),
        // (T + δ + R) / 2 = D.
        Kind::Moka => 2.0 * d - wait - r,
        Kind::Ours | Kind::NoCache => unreachable!("no TTL"),
    };
    if t < floor {
        (Duration::from_secs_f64(floor), TtlChoice::Unreachable)
    } else {
        (Duration::from_secs_f64(t), TtlChoice::Matched)
    }
}

/// Pins the calling thread to `cpu`; whether it could.
#[cfg(target_os = "linux")]
pub fn pin_to(cpu: usize) -> bool {
    // SAFETY: a zeroed `cpu_set_t` is a valid empty set; the calls only read it.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(cpu, &mut set);
        libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set) == 0
    }
}

#[cfg(not(target_os = "linux"))]
pub fn pin_to(_cpu: usize) -> bool {
    false
}

/// The CPUs this process may run on.
#[cfg(target_os = "linux")]
pub fn allowed_cpus() -> Vec<usize> {
    // SAFETY: as in `pin_to`; `sched_getaffinity` writes at most the set's size.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        if libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &mut set) != 0 {
            return Vec::new();
        }
        (0..libc::CPU_SETSIZE as usize)
            .filter(|&cpu| libc::CPU_ISSET(cpu, &set))
            .collect()
    }
}

#[cfg(not(target_os = "linux"))]
pub fn allowed_cpus() -> Vec<usize> {
    Vec::new()
}

/// The server's runtime (one worker, its blocking pool for SQLite) and how it and the
/// calling thread (the load generator) were pinned.
fn runtimes(
    pin: bool,
    cpus: &[usize],
) -> (tokio::runtime::Runtime, tokio::runtime::Runtime, String) {
    let pinned = pin && cpus.len() >= 2;
    let (server_cpu, client_cpu) = if pinned { (cpus[0], cpus[1]) } else { (0, 0) };
    let mut server = tokio::runtime::Builder::new_multi_thread();
    server
        .worker_threads(1)
        .max_blocking_threads(8)
        .enable_all();
    if pinned {
        server.on_thread_start(move || {
            pin_to(server_cpu);
        });
    }
    let server = server.build().expect("the server's runtime");
    let client_pinned = pinned && pin_to(client_cpu);
    let client = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("the load generator's runtime");
    let pinning = if client_pinned {
        format!(
            "server (one tokio worker and its blocking pool, the editor) on CPU {server_cpu}, \
             load generator (one thread) on CPU {client_cpu}, by sched_setaffinity"
        )
    } else if !pin {
        "not pinned (--no-pin)".into()
    } else {
        format!(
            "not pinned ({} CPUs allowed): server (one tokio worker) and load generator \
             share the machine",
            cpus.len()
        )
    };
    (server, client, pinning)
}

/// One phase's plan.
struct Plan {
    label: String,
    kind: Kind,
    edits_on: bool,
    ttl: Option<(Duration, TtlChoice)>,
}

/// Runs every variant; `progress` hears of each phase as it starts.
pub fn run(config: &Config, mut progress: impl FnMut(&str)) -> Report {
    let cpus = allowed_cpus();
    let (server_rt, client_rt, pinning) = runtimes(config.pin, &cpus);
    let db_path: PathBuf =
        std::env::temp_dir().join(format!("async-cache-load-{}.sqlite3", std::process::id()));
    let db = Db::create(&db_path, config.things).expect("the benchmark's database");
    let zipf = Zipf::new(config.things, config.zipf);
    let mut rng = Rng::new(config.seed);
    let requests = (config.rate * config.duration.as_secs_f64()).round() as usize;
    let ids: Vec<i64> = (0..requests).map(|_| zipf.sample(&mut rng)).collect();

    let mut phases = Vec::new();
    let mut plans = vec![
        Plan {
            label: "ours `#[async_cached]`, no edits".into(),
            kind: Kind::Ours,
            edits_on: false,
            ttl: None,
        },
        Plan {
            label: "ours `#[async_cached]`".into(),
            kind: Kind::Ours,
            edits_on: true,
            ttl: None,
        },
    ];
    let mut i = 0;
    while i < plans.len() {
        let plan = &plans[i];
        progress(&plan.label);
        let phase = run_phase(config, &server_rt, &client_rt, &db, &ids, plan);
        phases.push(phase);
        if i == 1 {
            // Ours has run with edits: the TTL variants can be matched to it.
            let ours_mean =
                Duration::from_secs_f64(phases[1].staleness_mean_ms.unwrap_or(0.0) / 1000.0);
            for kind in [Kind::Cached, Kind::Moka] {
                let (ttl, choice) = matched_ttl(kind, ours_mean, config.render);
                let name = match kind {
                    Kind::Cached => "`cached` `#[cached]`",
                    _ => "moka `get_with`",
                };
                let why = match choice {
                    TtlChoice::Matched => "ours' mean staleness",
                    _ => "cannot reach ours' mean staleness",
                };
                plans.push(Plan {
                    label: format!("{name}, TTL {} ({why})", duration_text(ttl)),
                    kind,
                    edits_on: true,
                    ttl: Some((ttl, choice)),
                });
                plans.push(Plan {
                    label: format!("{name}, TTL {} (short)", duration_text(config.short_ttl)),
                    kind,
                    edits_on: true,
                    ttl: Some((config.short_ttl, TtlChoice::Short)),
                });
            }
            plans.push(Plan {
                label: "no cache".into(),
                kind: Kind::NoCache,
                edits_on: true,
                ttl: None,
            });
        }
        i += 1;
    }
    drop(server_rt);
    db.remove();
    let share = zipf.share(config.popular);
    Report {
        things: config.things,
        popular: config.popular,
        zipf: config.zipf,
        rate: config.rate,
        duration_s: config.duration.as_secs_f64(),
        render_ms: ms(config.render),
        edit_every_ms: ms(config.edit_every),
        short_ttl_ms: ms(config.short_ttl),
        connections: config.connections,
        popular_interval_ms: 1000.0 / (config.rate * share),
        pinning,
        cpus: cpus.len(),
        phases,
    }
}

fn run_phase(
    config: &Config,
    server_rt: &tokio::runtime::Runtime,
    client_rt: &tokio::runtime::Runtime,
    db: &Db,
    ids: &[i64],
    plan: &Plan,
) -> Phase {
    let variant = match plan.kind {
        Kind::Ours => Variant::Ours(Cache::new()),
        Kind::Cached => {
            let (ttl, _) = plan.ttl.expect("a TTL");
            server_rt.block_on(service::reset_cached(ttl));
            Variant::Cached
        }
        Kind::Moka => {
            let (ttl, _) = plan.ttl.expect("a TTL");
            Variant::Moka(
                moka::future::Cache::builder()
                    .max_capacity(10_000)
                    .time_to_live(ttl)
                    .build(),
            )
        }
        Kind::NoCache => Variant::NoCache,
    };
    let app = App::new(db.clone(), variant, config.render);
    let server = server_rt.block_on(Server::start(app.clone()));
    let pool = client::Pool::new(server.addr);

    let fill_errors = client_rt.block_on(client::fill(&pool, 1..=config.things as i64, 200));
    let cold_renders = app.renders();
    // The first tenth of the same load, not recorded: connections open, caches of
    // every kind (the CPU's, the allocator's) warm, as in a service up a while.
    let warm_up = &ids[..ids.len() / 10];
    let warm = client_rt.block_on(client::open_loop(
        &pool,
        config.things,
        warm_up,
        config.rate,
    ));
    let before_load = app.renders();

    let (stop_editor, stop) = oneshot::channel();
    let editor = plan.edits_on.then(|| {
        server_rt.spawn(service::editor(
            db.clone(),
            config.popular,
            config.edit_every,
            Rng::new(config.seed ^ 0xED17_ED17),
            stop,
        ))
    });
    let edit_window = config.duration.saturating_sub(config.edit_tail());
    let seen = client_rt.block_on(async {
        let load = client::open_loop(&pool, config.things, ids, config.rate);
        tokio::pin!(load);
        // Stop the editor while the load goes on.
        tokio::select! {
            seen = &mut load => seen,
            () = tokio::time::sleep(edit_window) => {
                let _ = stop_editor.send(());
                load.await
            }
        }
    });
    let edits = match editor {
        Some(editor) => server_rt.block_on(editor).expect("the editor"),
        None => Edits::default(),
    };
    if let Variant::Ours(cache) = &app.variant {
        server_rt.block_on(cache.wait_for_refreshes());
    }
    let load_renders = app.renders() - before_load;

    // The capacity: as many answers as the server gives, edits going on as before.
    let (stop_editor, stop) = oneshot::channel();
    let editor = plan.edits_on.then(|| {
        server_rt.spawn(service::editor(
            db.clone(),
            config.popular,
            config.edit_every,
            Rng::new(config.seed ^ 0xED17_ED17),
            stop,
        ))
    });
    let ids: Arc<[i64]> = ids.into();
    let (answered, capacity_errors, elapsed) = client_rt.block_on(client::closed_loop(
        &pool,
        &ids,
        config.connections,
        config.capacity_for,
    ));
    let _ = stop_editor.send(());
    if let Some(editor) = editor {
        server_rt.block_on(editor).expect("the editor");
    }
    drop(pool);
    if let Variant::Ours(cache) = &app.variant {
        server_rt.block_on(cache.wait_for_refreshes());
    }
    server_rt.block_on(server.stop());

    let mut phase = analyze(config, plan, &seen, &edits.made);
    phase.errors += fill_errors + warm.errors + capacity_errors;
    phase.edits_failed = edits.failed;
    phase.error_samples.extend(edits.failures);
    phase.cold_renders = cold_renders;
    phase.load_renders = load_renders;
    phase.capacity_rps = answered as f64 / elapsed.as_secs_f64();
    phase
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn duration_text(d: Duration) -> String {
    if d >= Duration::from_secs(1) && d.subsec_millis() == 0 {
        format!("{} s", d.as_secs())
    } else {
        format!("{:.0} ms", ms(d))
    }
}

fn analyze(config: &Config, plan: &Plan, seen: &Seen, edits: &[Edit]) -> Phase {
    let q = |quantile: f64| seen.latency.value_at_quantile(quantile) as f64 / 1000.0;
    let mut staleness = Vec::new();
    let mut edits_read = 0;
    for edit in edits {
        let pages = &seen.pages[(edit.id - 1) as usize];
        if pages.iter().any(|&(at, _)| at >= edit.started) {
            edits_read += 1;
        }
        if let Some(&(at, _)) = pages.iter().find(|&&(_, v)| v >= edit.updated_at) {
            staleness.push(ms(at.saturating_duration_since(edit.committed)));
        }
    }
    staleness.sort_by(f64::total_cmp);
    let at = |quantile: f64| {
        (!staleness.is_empty()).then(|| {
            let i = ((staleness.len() as f64 * quantile).ceil() as usize).clamp(1, staleness.len());
            staleness[i - 1]
        })
    };
    Phase {
        label: plan.label.clone(),
        kind: plan.kind,
        edits_on: plan.edits_on,
        ttl_ms: plan.ttl.map(|(ttl, _)| ms(ttl)),
        ttl_choice: plan.ttl.map(|(_, choice)| choice),
        offered_rps: config.rate,
        answered_rps: seen.answered as f64 / seen.elapsed.as_secs_f64(),
        answered: seen.answered,
        capacity_rps: 0.0,
        errors: seen.errors,
        error_samples: seen.error_samples.clone(),
        p50_ms: q(0.5),
        p99_ms: q(0.99),
        p999_ms: q(0.999),
        max_ms: seen.latency.max() as f64 / 1000.0,
        cold_renders: 0,
        load_renders: 0,
        edits: edits.len(),
        edits_failed: 0,
        edits_read,
        edits_seen: staleness.len(),
        staleness_mean_ms: (!staleness.is_empty())
            .then(|| staleness.iter().sum::<f64>() / staleness.len() as f64),
        staleness_p50_ms: at(0.5),
        staleness_p99_ms: at(0.99),
        staleness_min_ms: staleness.first().copied(),
        staleness_max_ms: staleness.last().copied(),
    }
}

fn latency_text(v: f64) -> String {
    if v < 10.0 {
        format!("{v:.2} ms")
    } else {
        format!("{v:.0} ms")
    }
}

fn opt_text(v: Option<f64>) -> String {
    v.map_or_else(|| "-".into(), latency_text)
}

impl Report {
    pub fn ours(&self, edits_on: bool) -> &Phase {
        self.phases
            .iter()
            .find(|p| p.kind == Kind::Ours && p.edits_on == edits_on)
            .expect("ours ran")
    }

    /// The README's table.
    pub fn table(&self) -> String {
        let mut out = String::new();
        out.push_str(
            "| variant | answers/s | p50 | p99 | p99.9 | renders (cold fill + under load) | edits read / made | staleness mean | p99 | max | capacity (answers/s) |\n",
        );
        out.push_str(
            "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n",
        );
        for p in &self.phases {
            let edits = if p.edits_on {
                let unseen = p.edits - p.edits_seen;
                let unseen = if unseen > 0 {
                    format!(" ({unseen} unseen)")
                } else {
                    String::new()
                };
                let failed = if p.edits_failed > 0 {
                    format!(" ({} failed)", p.edits_failed)
                } else {
                    String::new()
                };
                format!("{} / {}{unseen}{failed}", p.edits_read, p.edits)
            } else {
                "no edits".into()
            };
            let errors = if p.errors > 0 {
                format!(" ({} errors)", p.errors)
            } else {
                String::new()
            };
            let _ = writeln!(
                out,
                "| {} | {:.0}{errors} | {} | {} | {} | {} + {} | {edits} | {} | {} | {} | {:.0} |",
                p.label,
                p.answered_rps,
                latency_text(p.p50_ms),
                latency_text(p.p99_ms),
                latency_text(p.p999_ms),
                p.cold_renders,
                p.load_renders,
                opt_text(p.staleness_mean_ms),
                opt_text(p.staleness_p99_ms),
                opt_text(p.staleness_max_ms),
                p.capacity_rps,
            );
        }
        out
    }

    /// The targets, each with its figures and whether it was met (a table).
    pub fn targets(&self) -> String {
        let mut out = String::from("| target | figures | result |\n| --- | --- | --- |\n");
        let ours = self.ours(true);
        let base = self.ours(false);
        let yes = |ok: bool| if ok { "met" } else { "**not met**" };
        let matched: Vec<&Phase> = self
            .phases
            .iter()
            .filter(|p| p.ttl_choice.is_some() && p.ttl_choice != Some(TtlChoice::Short))
            .collect();
        for p in &matched {
            let _ = writeln!(
                out,
                "| p99 under edits, ours at most 1/10 of {} | {} against {} (1/{:.1}) | {} |",
                p.label,
                latency_text(ours.p99_ms),
                latency_text(p.p99_ms),
                p.p99_ms / ours.p99_ms,
                yes(ours.p99_ms * 10.0 <= p.p99_ms)
            );
        }
        let _ = writeln!(
            out,
            "| p99 under edits within 1.5x of ours without edits | {} against {} ({:.2}x) | {} |",
            latency_text(ours.p99_ms),
            latency_text(base.p99_ms),
            ours.p99_ms / base.p99_ms,
            yes(ours.p99_ms <= base.p99_ms * 1.5)
        );
        let renders = ours.cold_renders + ours.load_renders;
        let bound = ours.cold_renders as usize + ours.edits_read;
        let _ = writeln!(
            out,
            "| renders, ours at most one per edit read plus the cold misses | {renders} against {} + {} = {bound} | {} |",
            ours.cold_renders,
            ours.edits_read,
            yes(renders as usize <= bound)
        );
        let best = |rps: fn(&Phase) -> f64| {
            self.phases
                .iter()
                .filter(|p| p.kind != Kind::Ours)
                .map(rps)
                .fold(0.0, f64::max)
        };
        let (offered, capacity) = (best(|p| p.answered_rps), best(|p| p.capacity_rps));
        let _ = writeln!(
            out,
            "| throughput, ours at least 0.9x the best peer | at an offered {:.0}/s, {:.0} against {offered:.0} answers/s ({:.2}x); capacity ({} connections, closed loop) {:.0} against {capacity:.0} ({:.2}x) | {} |",
            self.rate,
            ours.answered_rps,
            ours.answered_rps / offered,
            self.connections,
            ours.capacity_rps,
            ours.capacity_rps / capacity,
            yes(ours.answered_rps >= 0.9 * offered && ours.capacity_rps >= 0.9 * capacity)
        );
        let limit = self.render_ms + self.popular_interval_ms;
        let max = ours.staleness_max_ms.unwrap_or(f64::INFINITY);
        let _ = writeln!(
            out,
            "| staleness, ours at most one render plus one request interval ({} + {} = {}) for every popular thing | max {}, p99 {}, mean {} | {} |",
            latency_text(self.render_ms),
            latency_text(self.popular_interval_ms),
            latency_text(limit),
            opt_text(ours.staleness_max_ms),
            opt_text(ours.staleness_p99_ms),
            opt_text(ours.staleness_mean_ms),
            yes(max <= limit && ours.edits_seen == ours.edits)
        );
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zipf_shares_fall_with_rank_and_sampling_follows_them() {
        let zipf = Zipf::new(1_000, 1.0);
        let total: f64 = (1..=1_000).map(|k| zipf.share(k)).sum();
        assert!((total - 1.0).abs() < 1e-9, "shares sum to {total}");
        assert!((zipf.share(1) / zipf.share(10) - 10.0).abs() < 1e-9);
        let mut rng = Rng::new(1);
        let mut first = 0;
        let draws = 100_000;
        for _ in 0..draws {
            let id = zipf.sample(&mut rng);
            assert!((1..=1_000).contains(&id));
            first += usize::from(id == 1);
        }
        let expected = zipf.share(1) * draws as f64;
        assert!(
            (first as f64 - expected).abs() < expected * 0.05,
            "thing 1 drawn {first} times, expected about {expected:.0}"
        );
    }

    #[test]
    fn matched_ttls_solve_their_models() {
        let render = Duration::from_millis(200);
        let ours = Duration::from_millis(260);
        let (r, d) = (0.2, 0.06);
        let (ttl, choice) = matched_ttl(Kind::Cached, ours, render);
        assert_eq!(choice, TtlChoice::Matched);
        let t = ttl.as_secs_f64();
        // The rest of an entry's life, on average, is the wait ours spends beyond a
        // read and a render.
        assert!((t * t / (2.0 * (t + r)) - d / 2.0).abs() < 1e-9, "T = {t}");
        // Moka cannot get below 1.5 renders: 260 ms is out of its reach.
        assert_eq!(
            matched_ttl(Kind::Moka, ours, render),
            (Duration::from_millis(10), TtlChoice::Unreachable)
        );
        let (ttl, choice) = matched_ttl(Kind::Moka, Duration::from_millis(500), render);
        assert_eq!(choice, TtlChoice::Matched);
        let t = ttl.as_secs_f64();
        let (d, wait) = (0.3, 0.15);
        assert!(((t + wait + r) / 2.0 - d).abs() < 1e-9, "T = {t}");
    }
}
