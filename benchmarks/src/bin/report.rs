//! The benchmarks' ratios in about a minute, without criterion: a markdown table for
//! the README's "Performance" section.
//!
//! ```text
//! cargo run --release -p benchmarks                    # memory tiers
//! cargo run --release -p benchmarks --features redis   # + the Redis tier
//! ```
//!
//! The contenders are measured in interleaved rounds (A, B, C, A, B, C, ...) and the
//! medians taken, so that a noisy, shared machine slows them alike. The contenders and
//! measurements are those of the criterion benches (this package's library).

use std::fmt::Write as _;
use std::time::{Duration, Instant};
use test_support::CountingAllocator;

use benchmarks::{Contenders, Herd, Hit};

#[global_allocator]
static ALLOC: CountingAllocator = CountingAllocator::paused();

/// Interleaved rounds of the hit comparisons (medians are taken over them).
const HIT_ROUNDS: usize = 21;
/// Hits per contender per round (per thread with two threads).
const HIT_OPS: u64 = 100_000;
/// ... with two threads: fewer, as a round of `cached` that falls into a lock
/// convoy runs at tens of microseconds per hit.
const HIT_OPS_THREADED: u64 = 50_000;
const STALE_ROUNDS: u64 = 8;
const BUMP_ROUNDS: u64 = 5;
const HERD_ROUNDS: usize = 3;
/// The first argument that makes this binary a fleet node (see `benchmarks::fleet`).
#[cfg(feature = "redis")]
const FLEET_NODE: &str = "fleet-node";
/// The fleet rows: processes of the cold herd, callers in each, and writes timed
/// from one process to another's near cache.
#[cfg(feature = "redis")]
const FLEET_PROCESSES: usize = 3;
#[cfg(feature = "redis")]
const FLEET_CALLERS: usize = 100;
#[cfg(feature = "redis")]
const COHERENCE_TRIALS: u64 = 200;

fn main() {
    // The fleet rows run this binary again as each of their processes.
    #[cfg(feature = "redis")]
    if std::env::args().nth(1).as_deref() == Some(FLEET_NODE) {
        benchmarks::fleet::node_main(std::env::args().skip(2));
        return;
    }
    let started = Instant::now();
    let load_before = benchmarks::machine::load_average();
    let mut report = Report::default();

    let rt = benchmarks::current_thread();
    let contenders = rt.block_on(Contenders::new());
    eprintln!("hits, one task ...");
    let one = hit_medians(HIT_OPS, |which, round| {
        rt.block_on(contenders.hits(which, HIT_OPS, round * 997))
    });
    eprintln!("hits, two threads ...");
    let two = hit_medians(HIT_OPS_THREADED, |which, _round| {
        contenders.hits_threaded(which, 2, HIT_OPS_THREADED)
    });
    report.hits(&one, &two);
    eprintln!("time and failure ...");
    report.time_and_failure();

    eprintln!("stale path ...");
    report.stale();
    eprintln!("herds ...");
    report.herds();
    eprintln!("scale and bytes per entry ...");
    report.scale();
    eprintln!("hit ratio past capacity ...");
    report.hit_ratio();
    eprintln!("record encode/decode ...");
    report.codec();
    report.redis();
    report.fleet();

    let load_after = benchmarks::machine::load_average();
    println!("{}", report.render());
    println!(
        "Ran in {:.0} s on {} ({} CPUs), {}; load average {} before, {} after.",
        started.elapsed().as_secs_f64(),
        benchmarks::machine::cpu_model(),
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        benchmarks::machine::rustc_version(),
        load_before,
        load_after
    );
}

/// Per contender: the median over interleaved rounds of ns per hit, and the median of
/// its per-round ratio to every other contender (computed in [`Report::hits`]).
struct HitMedians {
    /// `ns[contender][round]`.
    ns: Vec<Vec<f64>>,
}

impl HitMedians {
    fn median(&self, which: Hit) -> f64 {
        benchmarks::median(&mut self.ns[index(which)].clone())
    }

    /// Total time over total hits of all rounds: the throughput a server would see,
    /// lock convoys included (they hide from the median).
    fn mean(&self, which: Hit) -> f64 {
        let v = &self.ns[index(which)];
        v.iter().sum::<f64>() / v.len() as f64
    }

    /// The slowest round: lock convoys show here, not in the median.
    fn worst(&self, which: Hit) -> f64 {
        self.ns[index(which)].iter().copied().fold(0.0, f64::max)
    }

    /// Median over rounds of `a / b`, both measured in the same round.
    fn ratio(&self, a: Hit, b: Hit) -> f64 {
        let mut ratios: Vec<f64> = self.ns[index(a)]
            .iter()
            .zip(&self.ns[index(b)])
            .map(|(a, b)| a / b)
            .collect();
        benchmarks::median(&mut ratios)
    }
}

fn index(which: Hit) -> usize {
    Hit::ALL
        .iter()
        .position(|&w| w == which)
        .expect("a contender")
}

fn hit_medians(ops: u64, mut measure: impl FnMut(Hit, usize) -> Duration) -> HitMedians {
    // One warm-up round, not kept.
    for which in Hit::ALL {
        measure(which, 0);
    }
    let mut ns = vec![Vec::with_capacity(HIT_ROUNDS); Hit::ALL.len()];
    for round in 0..HIT_ROUNDS {
        // Rotate who goes first, too.
        for k in 0..Hit::ALL.len() {
            let i = (k + round) % Hit::ALL.len();
            let elapsed = measure(Hit::ALL[i], round + 1);
            ns[i].push(elapsed.as_nanos() as f64 / ops as f64);
        }
    }
    HitMedians { ns }
}

#[derive(Default)]
struct Report {
    /// `| comparison | ours | other | ratio | target | met |`
    ratios: Vec<[String; 6]>,
    /// `| what | value |` details.
    details: Vec<[String; 2]>,
    notes: Vec<String>,
}

fn ns(v: f64) -> String {
    if v >= 1_000_000.0 {
        format!("{:.1} ms", v / 1_000_000.0)
    } else if v >= 10_000.0 {
        format!("{:.1} µs", v / 1_000.0)
    } else {
        format!("{v:.0} ns")
    }
}

/// `0.93x`, or `1/3500x` when ours is orders of magnitude ahead.
fn ratio_text(ratio: f64) -> String {
    if ratio < 0.05 {
        format!("1/{:.0}x", 1.0 / ratio)
    } else {
        format!("{ratio:.2}x")
    }
}

fn met(ok: bool) -> String {
    if ok { "yes" } else { "**no**" }.to_string()
}

impl Report {
    fn row(
        &mut self,
        what: &str,
        ours: String,
        other: String,
        ratio: f64,
        target: &str,
        ok: Option<bool>,
    ) {
        self.ratios.push([
            what.to_string(),
            ours,
            other,
            ratio_text(ratio),
            target.to_string(),
            ok.map_or_else(|| "-".to_string(), met),
        ]);
    }

    fn hits(&mut self, one: &HitMedians, two: &HitMedians) {
        for (label, m) in [("1 task", one), ("2 threads", two)] {
            let ours = m.median(Hit::Ours);
            for (other, target) in [
                (Hit::MokaFuture, Some(1.3)),
                (Hit::MokaSync, None),
                (Hit::MokaSyncFoldhash, Some(1.3)),
            ] {
                let ratio = m.ratio(Hit::Ours, other);
                self.row(
                    &format!("fresh hit, {label}: ours `fetch` / {}", other.name()),
                    ns(ours),
                    ns(m.median(other)),
                    ratio,
                    target.map_or("-", |_| "<= 1.3x"),
                    target.map(|t| ratio <= t),
                );
            }
            let ratio = m.ratio(Hit::Attribute, Hit::Ours);
            self.row(
                &format!("fresh hit, {label}: `#[async_cached]` / `fetch`"),
                ns(m.median(Hit::Attribute)),
                ns(ours),
                ratio,
                "<= 1.1x",
                Some(ratio <= 1.1),
            );
            let ratio = m.ratio(Hit::Ours, Hit::CachedBounded);
            let (target, ok) = if label == "1 task" {
                ("<= 1.0x", ratio <= 1.0)
            } else {
                ("< 1.0x", ratio < 1.0)
            };
            self.row(
                &format!("fresh hit, {label}: ours / `cached` bounded (same capacity)"),
                ns(ours),
                ns(m.median(Hit::CachedBounded)),
                ratio,
                target,
                Some(ok),
            );
            if label == "2 threads" {
                let ratio = m.mean(Hit::Ours) / m.mean(Hit::CachedBounded);
                self.row(
                    "fresh hit, 2 threads, all rounds' total time (throughput): ours / `cached` bounded",
                    ns(m.mean(Hit::Ours)),
                    ns(m.mean(Hit::CachedBounded)),
                    ratio,
                    "< 1.0x",
                    Some(ratio < 1.0),
                );
            }
            let ratio = m.ratio(Hit::Ours, Hit::CachedUnbounded);
            self.row(
                &format!("fresh hit, {label}: ours / `cached` unbounded (reference)"),
                ns(ours),
                ns(m.median(Hit::CachedUnbounded)),
                ratio,
                "-",
                None,
            );
            for which in Hit::ALL {
                self.details.push([
                    format!("hit, {label}: {}", which.name()),
                    format!(
                        "{} per hit (mean {}, slowest of {HIT_ROUNDS} rounds {})",
                        ns(m.median(which)),
                        ns(m.mean(which)),
                        ns(m.worst(which))
                    ),
                ]);
            }
        }
    }

    fn stale(&mut self) {
        let rt = benchmarks::multi_thread(2);
        let keys = benchmarks::locators(benchmarks::STALE_KEYS);
        let (mut fresh_p50, mut fresh_p99) = (Vec::new(), Vec::new());
        let (mut stale_p50, mut stale_p99) = (Vec::new(), Vec::new());
        let mut bump_p50 = Vec::new();
        let (mut ours_bump, mut cached_bump) = (Vec::new(), Vec::new());
        rt.block_on(async {
            let cache = benchmarks::stale_cache();
            benchmarks::fill_stale_cache(&cache, &keys).await;
            let mut version = 1;
            for _ in 0..STALE_ROUNDS {
                let round = benchmarks::stale_round(&cache, &keys, version).await;
                version += 1;
                fresh_p50.push(round.fresh.value_at_quantile(0.5) as f64);
                fresh_p99.push(round.fresh.value_at_quantile(0.99) as f64);
                stale_p50.push(round.stale.value_at_quantile(0.5) as f64);
                stale_p99.push(round.stale.value_at_quantile(0.99) as f64);
                bump_p50.push(round.bump.value_at_quantile(0.5) as f64);
            }
            // Right after a version bump, every locator read at once: ours vs
            // `cached` whose TTL just expired (interleaved rounds).
            for _ in 0..BUMP_ROUNDS {
                version += 1;
                let ours = benchmarks::ours_after_bump(&cache, &keys, version).await;
                ours_bump.push(ours.value_at_quantile(0.99) as f64);
                let cached = benchmarks::cached_after_expiry(&keys).await;
                cached_bump.push(cached.value_at_quantile(0.99) as f64);
            }
        });
        let m = |v: &mut Vec<f64>| benchmarks::median(v);
        let (f50, f99, s50, s99) = (
            m(&mut fresh_p50),
            m(&mut fresh_p99),
            m(&mut stale_p50),
            m(&mut stale_p99),
        );
        let mut ratios: Vec<f64> = stale_p99
            .iter()
            .zip(&fresh_p99)
            .map(|(s, f)| s / f)
            .collect();
        let ratio = m(&mut ratios);
        self.row(
            "stale read p99 (100 ms refresh running) / fresh hit p99",
            ns(s99),
            ns(f99),
            ratio,
            "<= 1.5x",
            Some(ratio <= 1.5),
        );
        let mut ratios: Vec<f64> = stale_p50
            .iter()
            .zip(&fresh_p50)
            .map(|(s, f)| s / f)
            .collect();
        let ratio = m(&mut ratios);
        self.row(
            "stale read p50 / fresh hit p50",
            ns(s50),
            ns(f50),
            ratio,
            "-",
            None,
        );
        let (ob, cb) = (m(&mut ours_bump), m(&mut cached_bump));
        self.row(
            &format!(
                "p99 of reads right after a version bump ({} locators at once): ours (stale served) / `cached` (TTL just expired)",
                benchmarks::STALE_KEYS
            ),
            ns(ob),
            ns(cb),
            ob / cb,
            "-",
            None,
        );
        self.details.push([
            "first read after a version bump (schedules the refresh), p50".into(),
            ns(m(&mut bump_p50)),
        ]);
    }

    fn herds(&mut self) {
        let rt = benchmarks::multi_thread(2);
        let cache = async_cache_runtime::Cache::builder()
            .max_capacity(benchmarks::CAPACITY)
            .build();
        let mut results: Vec<(Herd, Vec<benchmarks::HerdResult>)> =
            Herd::ALL.iter().map(|&h| (h, Vec::new())).collect();
        rt.block_on(async {
            for _ in 0..HERD_ROUNDS {
                for (which, runs) in &mut results {
                    runs.push(benchmarks::herd(*which, &cache).await);
                }
            }
        });
        let mut summary = Vec::new();
        for (which, runs) in &results {
            let mut counts: Vec<f64> = runs.iter().map(|r| r.runs as f64).collect();
            let mut walls: Vec<f64> = runs.iter().map(|r| r.wall.as_nanos() as f64).collect();
            let (count, wall) = (
                benchmarks::median(&mut counts),
                benchmarks::median(&mut walls),
            );
            summary.push((*which, count, wall));
            self.details.push([
                format!("herd of {}: {}", benchmarks::HERD, which.name()),
                format!("{count:.0} generator runs, {} wall", ns(wall)),
            ]);
        }
        let get = |h: Herd| {
            summary
                .iter()
                .find(|(w, _, _)| *w == h)
                .map(|&(_, c, w)| (c, w))
                .expect("measured")
        };
        for (ours, other, what) in [
            (Herd::OursMissing, Herd::CachedMissing, "missing locator"),
            (
                Herd::OursMissing,
                Herd::CachedSyncMissing,
                "missing locator, `cached` with `sync_writes`",
            ),
            (
                Herd::OursStale,
                Herd::CachedExpired,
                "stale locator (`cached`: TTL just expired)",
            ),
            (
                Herd::OursStale,
                Herd::CachedSyncExpired,
                "stale locator, `cached` with `sync_writes`",
            ),
        ] {
            let (oc, ow) = get(ours);
            let (cc, cw) = get(other);
            self.ratios.push([
                format!(
                    "herd of {} callers, {what}: generator runs (wall)",
                    benchmarks::HERD
                ),
                format!("{oc:.0} ({})", ns(ow)),
                format!("{cc:.0} ({})", ns(cw)),
                format!("{} wall", ratio_text(ow / cw)),
                "1 run".into(),
                met(oc <= 1.0),
            ]);
        }
    }

    fn scale(&mut self) {
        let rt = benchmarks::current_thread();
        for n in [1_000, 100_000, 1_000_000] {
            for bytes in [16, 1024] {
                let scale = rt.block_on(benchmarks::Scale::new(n, bytes));
                let ops = 50_000;
                let (mut ours, mut moka, mut ratios) = (Vec::new(), Vec::new(), Vec::new());
                for round in 0..9 {
                    let o = rt.block_on(scale.ours_hits(ops, round * 7919)).as_nanos() as f64;
                    let m = scale.moka_hits(ops, round * 7919).as_nanos() as f64;
                    if round > 0 {
                        ours.push(o / ops as f64);
                        moka.push(m / ops as f64);
                        ratios.push(o / m);
                    }
                }
                let ratio = benchmarks::median(&mut ratios);
                self.row(
                    &format!("hit at {n} entries of {bytes} B: ours / moka::sync (foldhash)"),
                    ns(benchmarks::median(&mut ours)),
                    ns(benchmarks::median(&mut moka)),
                    ratio,
                    "-",
                    None,
                );
            }
        }
        let n = 100_000;
        let (ours, moka, expiry) = benchmarks::bytes_per_entry(&ALLOC, n);
        self.ratios.push([
            format!("bytes per entry over raw moka ({n} entries, counting allocator)"),
            format!("{ours:.0} B"),
            format!("{moka:.0} B"),
            format!("+{:.0} B", ours - moka),
            "<= +100 B".into(),
            met(ours - moka <= 100.0),
        ]);
        self.details.push([
            "bytes per entry: moka with an expiry policy and ours' slot layout".into(),
            format!("{expiry:.0} B (+{:.0} B over raw moka)", expiry - moka),
        ]);
    }

    /// Whether moka still keeps the right entries when it sees only a sample of the
    /// hits (the rest are answered by the front).
    fn hit_ratio(&mut self) {
        let locators = benchmarks::locators(benchmarks::ZIPF_KEYS);
        let trace =
            benchmarks::zipf_trace(benchmarks::ZIPF_KEYS, benchmarks::ZIPF_REQUESTS, 0x5EED);
        let (ours, moka) = benchmarks::hit_ratios(&locators, &trace, benchmarks::ZIPF_CAPACITY);
        let gap = (ours - moka) * 100.0;
        self.ratios.push([
            format!(
                "hit ratio, Zipf 0.99 trace of {} requests over {} keys, capacity {}: ours / raw moka::sync",
                benchmarks::ZIPF_REQUESTS,
                benchmarks::ZIPF_KEYS,
                benchmarks::ZIPF_CAPACITY
            ),
            format!("{:.2}%", ours * 100.0),
            format!("{:.2}%", moka * 100.0),
            format!("{gap:+.2} pp"),
            ">= -1 pp".into(),
            met(gap >= -1.0),
        ]);
    }

    fn codec(&mut self) {
        use benchmarks::codec::Format;
        let [mp, pc] = benchmarks::codec::measure(9, 20_000);
        let what = "1.2 KiB record (strings, a vector, a map)";
        self.row(
            &format!(
                "{what}, size: {} / {}",
                Format::MessagePack.name(),
                Format::Postcard.name()
            ),
            format!("{} B", mp.bytes),
            format!("{} B", pc.bytes),
            mp.bytes as f64 / pc.bytes as f64,
            "-",
            None,
        );
        self.row(
            &format!("{what}, encode: rmp-serde / postcard"),
            ns(mp.encode_ns),
            ns(pc.encode_ns),
            mp.encode_ns / pc.encode_ns,
            "-",
            None,
        );
        self.row(
            &format!("{what}, decode: rmp-serde / postcard"),
            ns(mp.decode_ns),
            ns(pc.decode_ns),
            mp.decode_ns / pc.decode_ns,
            "-",
            None,
        );
    }

    #[cfg(feature = "redis")]
    fn redis(&mut self) {
        use benchmarks::redis_tier::{
            REDIS_LARGE_VALUE_BYTES, REDIS_VALUE_BYTES, RedisContenders, RedisHit,
        };
        let server = match test_support::RedisServer::try_start() {
            Ok(server) => server,
            Err(error) => {
                self.notes.push(format!("Redis rows skipped: {error}."));
                return;
            }
        };
        eprintln!("redis tier ...");
        let rt = benchmarks::multi_thread(2);
        let mut p50 = vec![Vec::new(); RedisHit::ALL.len()];
        let mut p99 = vec![Vec::new(); RedisHit::ALL.len()];
        let mut large = vec![Vec::new(); RedisHit::ALL.len()];
        rt.block_on(async {
            let mut c = RedisContenders::new(&server.url(), REDIS_VALUE_BYTES).await;
            let mut l = RedisContenders::new(&server.url(), REDIS_LARGE_VALUE_BYTES).await;
            for which in RedisHit::ALL {
                c.hits(which, 500).await;
                l.hits(which, 500).await;
            }
            for _ in 0..7 {
                for (i, which) in RedisHit::ALL.into_iter().enumerate() {
                    let h = c.hits(which, 2_000).await;
                    p50[i].push(h.value_at_quantile(0.5) as f64);
                    p99[i].push(h.value_at_quantile(0.99) as f64);
                    let h = l.hits(which, 2_000).await;
                    large[i].push(h.value_at_quantile(0.5) as f64);
                }
            }
        });
        let [ours, raw, near] = [0, 1, 2].map(|i| {
            (
                benchmarks::median(&mut p50[i]),
                benchmarks::median(&mut p99[i]),
            )
        });
        self.row(
            "Redis hit p50: ours / raw redis `GET` of the same payload",
            ns(ours.0),
            ns(raw.0),
            ours.0 / raw.0,
            "-",
            None,
        );
        self.row(
            "Redis hit p99: ours / raw redis `GET`",
            ns(ours.1),
            ns(raw.1),
            ours.1 / raw.1,
            "-",
            None,
        );
        self.row(
            "near-cache hit p50 / raw redis `GET` p50",
            ns(near.0),
            ns(raw.0),
            near.0 / raw.0,
            "-",
            None,
        );
        let [ours_l, _, near_l] = [0, 1, 2].map(|i| benchmarks::median(&mut large[i]));
        self.row(
            &format!("{REDIS_LARGE_VALUE_BYTES} B `String` hit p50: near cache / through Redis"),
            ns(near_l),
            ns(ours_l),
            near_l / ours_l,
            "-",
            None,
        );
        drop(server);
        self.redis_cluster();
    }

    /// A hit over a Redis Cluster of three primaries against a raw cluster `GET`.
    #[cfg(feature = "redis")]
    fn redis_cluster(&mut self) {
        eprintln!("redis cluster ...");
        let cluster = test_support::redis_server::RedisCluster::start(3);
        let rt = benchmarks::multi_thread(2);
        let (mut ours, mut raw) = (Vec::new(), Vec::new());
        rt.block_on(async {
            benchmarks::redis_tier::cluster_hits(&cluster.urls(), 500).await;
            for _ in 0..7 {
                let (o, r) = benchmarks::redis_tier::cluster_hits(&cluster.urls(), 2_000).await;
                ours.push(o.value_at_quantile(0.5) as f64);
                raw.push(r.value_at_quantile(0.5) as f64);
            }
        });
        let (ours, raw) = (benchmarks::median(&mut ours), benchmarks::median(&mut raw));
        let ratio = ours / raw;
        self.row(
            "Redis Cluster hit p50: ours / raw cluster `GET` of the same payload",
            ns(ours),
            ns(raw),
            ratio,
            "<= 1.2x",
            Some(ratio <= 1.2),
        );
    }

    /// The fleet across OS processes: this binary runs again as each process.
    #[cfg(feature = "redis")]
    fn fleet(&mut self) {
        use benchmarks::fleet;
        let server = match test_support::RedisServer::try_start() {
            Ok(server) => server,
            Err(error) => {
                self.notes.push(format!("Fleet rows skipped: {error}."));
                return;
            }
        };
        let exe = std::env::current_exe().expect("the report's own path");
        eprintln!("fleet: cold herd across processes ...");
        let herd = fleet::cold_herd(
            &exe,
            &[FLEET_NODE],
            &server.url(),
            "herd:",
            FLEET_PROCESSES,
            FLEET_CALLERS,
            Duration::from_millis(500),
        );
        self.ratios.push([
            format!(
                "cold herd across {FLEET_PROCESSES} processes x {FLEET_CALLERS} callers, \
                 missing locator: generator runs (wall)"
            ),
            format!("{} ({})", herd.runs, ns(herd.wall.as_nanos() as f64)),
            "-".into(),
            "-".into(),
            "1 run".into(),
            met(herd.runs == 1 && herd.answered == FLEET_PROCESSES * FLEET_CALLERS),
        ]);
        eprintln!("fleet: near-cache coherence across processes ...");
        let mut delays = fleet::coherence(
            &exe,
            &[FLEET_NODE],
            &server.url(),
            "coherence:",
            COHERENCE_TRIALS,
        );
        let p50 = fleet::quantile(&mut delays, 0.5);
        let p99 = fleet::quantile(&mut delays, 0.99);
        self.ratios.push([
            format!(
                "near-cache coherence across processes, {COHERENCE_TRIALS} writes: \
                 delay p50 / p99"
            ),
            format!(
                "{} / {}",
                ns(p50.as_nanos() as f64),
                ns(p99.as_nanos() as f64)
            ),
            "-".into(),
            "-".into(),
            "p99 ≤ 50 ms".into(),
            met(p99 <= Duration::from_millis(50)),
        ]);
    }

    #[cfg(not(feature = "redis"))]
    fn fleet(&mut self) {}

    #[cfg(not(feature = "redis"))]
    fn redis(&mut self) {
        self.notes.push(
            "Redis rows skipped: built without the `redis` feature \
             (`cargo run --release -p benchmarks --features redis`)."
                .into(),
        );
    }

    fn render(&self) -> String {
        let mut out = String::new();
        out.push_str("| comparison | ours | other | ratio | target | met |\n");
        out.push_str("| --- | ---: | ---: | ---: | --- | --- |\n");
        for row in &self.ratios {
            let _ = writeln!(out, "| {} |", row.join(" | "));
        }
        out.push('\n');
        out.push_str("| measurement | median of rounds |\n| --- | ---: |\n");
        for row in &self.details {
            let _ = writeln!(out, "| {} |", row.join(" | "));
        }
        for note in &self.notes {
            let _ = write!(out, "\n{note}\n");
        }
        out
    }
}

/// The options of time and failure against a plain hit (`benchmarks::time`).
impl Report {
    fn time_and_failure(&mut self) {
        use benchmarks::time::{TimeContenders, TimeHit};
        let rt = benchmarks::current_thread();
        let contenders = rt.block_on(TimeContenders::new());
        let all = TimeHit::ALL;
        for which in all {
            rt.block_on(contenders.reads(which, HIT_OPS, 0));
        }
        // `ns[contender][round]`, rounds interleaved and rotated as for the hits.
        let mut ns_of = vec![Vec::with_capacity(HIT_ROUNDS); all.len()];
        for round in 0..HIT_ROUNDS {
            for k in 0..all.len() {
                let i = (k + round) % all.len();
                let elapsed = rt.block_on(contenders.reads(all[i], HIT_OPS, (round + 1) * 997));
                ns_of[i].push(elapsed.as_nanos() as f64 / HIT_OPS as f64);
            }
        }
        assert_eq!(
            contenders
                .outage_calls
                .load(std::sync::atomic::Ordering::Relaxed),
            0,
            "a throttled fail-safe answer calls no generator"
        );
        let at = |which: TimeHit| all.iter().position(|&w| w == which).expect("a contender");
        let median = |which: TimeHit| benchmarks::median(&mut ns_of[at(which)].clone());
        let ratio = |a: TimeHit, b: TimeHit| {
            let mut ratios: Vec<f64> = ns_of[at(a)]
                .iter()
                .zip(&ns_of[at(b)])
                .map(|(a, b)| a / b)
                .collect();
            benchmarks::median(&mut ratios)
        };
        let r = ratio(TimeHit::RefreshAfter, TimeHit::Plain);
        self.row(
            "fresh hit, 1 task: `refresh_after` set / no option",
            ns(median(TimeHit::RefreshAfter)),
            ns(median(TimeHit::Plain)),
            r,
            "<= 1.1x",
            Some(r <= 1.1),
        );
        let r = ratio(TimeHit::FailSafeThrottled, TimeHit::PlainTry);
        self.row(
            "1 task: fail-safe answer during an outage (throttled, no generator call) / `try_fetch` hit",
            ns(median(TimeHit::FailSafeThrottled)),
            ns(median(TimeHit::PlainTry)),
            r,
            "about 1x (<= 1.2x)",
            Some(r <= 1.2),
        );
        let r = ratio(TimeHit::FailSafeThrottled, TimeHit::TimedTry);
        self.row(
            "1 task: the same fail-safe answer / a hit of the same options before the outage (`expires_in`, `fail_safe`)",
            ns(median(TimeHit::FailSafeThrottled)),
            ns(median(TimeHit::TimedTry)),
            r,
            "-",
            None,
        );
        for which in all {
            self.details.push([
                format!("time and failure, 1 task: {}", which.name()),
                format!("{} per read", ns(median(which))),
            ]);
        }
    }
}
