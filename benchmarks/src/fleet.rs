//! A fleet of OS processes over one Redis: the node that runs in each process and
//! the driver that starts and commands the nodes. The fleet tests
//! (`tests/fleet_processes.rs`) and the report's fleet rows both use it.
//!
//! A node is the `fleet_node` binary (or the report run as `report fleet-node ...`):
//! it builds one `Cache<Redis>` from its arguments, makes its first store access,
//! prints `ready`, and then answers each command line on its stdin with one line on
//! its stdout. Commands run one at a time, in order:
//!
//! | command | what the node does | answer |
//! | --- | --- | --- |
//! | `fetch LOCATOR VERSION CALLERS GEN [wait]` | `CALLERS` concurrent `fetch_served` calls; `GEN` is `ms:N` (the generator takes N ms) or `gate` (it waits for an element on [`gate_key`]); `wait`: then `wait_for_refreshes` | `done ms=.. served=miss:3,hit:1 values=a\|b` |
//! | `write LOCATOR VERSION` | writes `vVERSION` in the caller (`force_sync`) | `done at=<unix ns before the write>` |
//! | `watch LOCATOR VALUE LIMIT_MS` | reads (any version) every millisecond until served `VALUE` | `seen at=<unix ns>` or `timeout last=..` |
//! | `stats` | the cache's [`Stats`](async_cache_runtime::Stats) | `stats hits=.. stale=.. misses=.. elsewhere=.. store_errors=..` |
//!
//! Every generator run counts itself first with an `INCR` of [`runs_key`] in Redis,
//! outside every process, and its value names the node that generated it
//! (`LOCATOR@VERSION/NAME`). The driver never orders the nodes by sleeping: it waits
//! for their answers, or for what the generators count in Redis.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use async_cache_runtime::{Cache, FetchOptions, Redis, Served};

/// How long the driver waits for a node's answer before it declares the node stuck.
const ANSWER_WITHIN: Duration = Duration::from_secs(60);

/// Where the generators of `locator` count their runs (outside the cache's keys).
pub fn runs_key(locator: &str) -> String {
    format!("fleet-test:runs:{locator}")
}

/// The list a `gate` generator of `locator` pops from before it returns.
pub fn gate_key(locator: &str) -> String {
    format!("fleet-test:gate:{locator}")
}

/// A node's cache options (the shared tier's defaults where `None`).
#[derive(Clone, Copy, Debug, Default)]
pub struct NodeOptions {
    pub near_cache: Option<Duration>,
    pub miss_lock_timeout: Option<Duration>,
    pub refresh_lock_ttl: Option<Duration>,
}

/// Runs a node: `args` are what follows the program name (and the `fleet-node`
/// word, for the report): `--url URL --prefix PREFIX --name NAME [--near-ms N]
/// [--miss-lock-ms N] [--refresh-lock-ms N]`.
///
/// # Panics
///
/// On arguments it does not understand, and when Redis fails the node's own
/// bookkeeping (its runs count, its gate): the driver then sees the node end.
pub fn node_main(args: impl IntoIterator<Item = String>) {
    let mut url = None;
    let mut prefix = None;
    let mut name = None;
    let mut options = NodeOptions::default();
    let mut args = args.into_iter();
    while let Some(flag) = args.next() {
        let value = args
            .next()
            .unwrap_or_else(|| panic!("{flag} needs a value"));
        let ms = || Duration::from_millis(value.parse().expect("milliseconds"));
        match flag.as_str() {
            "--url" => url = Some(value.clone()),
            "--prefix" => prefix = Some(value.clone()),
            "--name" => name = Some(value.clone()),
            "--near-ms" => options.near_cache = Some(ms()),
            "--miss-lock-ms" => options.miss_lock_timeout = Some(ms()),
            "--refresh-lock-ms" => options.refresh_lock_ttl = Some(ms()),
            other => panic!("unknown argument {other}"),
        }
    }
    let (url, prefix, name) = (
        url.expect("--url"),
        prefix.expect("--prefix"),
        name.expect("--name"),
    );

    let (lines_tx, mut lines) = tokio::sync::mpsc::unbounded_channel();
    std::thread::spawn(move || {
        for line in std::io::stdin().lock().lines() {
            let Ok(line) = line else { break };
            if lines_tx.send(line).is_err() {
                break;
            }
        }
    });

    crate::multi_thread(2).block_on(async move {
        let mut builder = Cache::builder()
            .redis(&url)
            .key_prefix(&prefix)
            .command_timeout(Duration::from_secs(2));
        if let Some(ttl) = options.near_cache {
            builder = builder.near_cache(ttl);
        }
        if let Some(wait) = options.miss_lock_timeout {
            builder = builder.miss_lock_timeout(wait);
        }
        if let Some(ttl) = options.refresh_lock_ttl {
            builder = builder.refresh_lock_ttl(ttl);
        }
        let cache = builder.build();
        let client = redis::Client::open(url.as_str()).expect("a Redis URL");
        let counter = client
            .get_multiplexed_async_connection()
            .await
            .expect("a connection for the runs count");
        let node = Node {
            cache,
            client,
            counter,
            name,
        };
        // The backplane subscribes before the first store access returns: once the
        // node says `ready`, other nodes' writes reach it.
        node.cache
            .fetch("fleet-node/first-access", 0_u64, || async { String::new() })
            .await;
        answer("ready");
        while let Some(line) = lines.recv().await {
            let words: Vec<&str> = line.split_whitespace().collect();
            let reply = match words.as_slice() {
                ["fetch", locator, version, callers, generator, rest @ ..] => {
                    node.fetch(
                        locator,
                        version.parse().expect("a version"),
                        callers.parse().expect("a number of callers"),
                        Generator::parse(generator),
                        rest == ["wait"],
                    )
                    .await
                }
                ["write", locator, version] => {
                    node.write(locator, version.parse().expect("a version"))
                        .await
                }
                ["watch", locator, value, limit_ms] => {
                    let limit = Duration::from_millis(limit_ms.parse().expect("milliseconds"));
                    node.watch(locator, value, limit).await
                }
                ["stats"] => node.stats(),
                ["quit"] => break,
                _ => format!("error unknown command {line:?}"),
            };
            answer(&reply);
        }
    });
}

fn answer(line: &str) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}

fn unix_ns() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("after 1970")
        .as_nanos()
}

#[derive(Clone, Copy, Debug)]
enum Generator {
    Takes(Duration),
    Gate,
}

impl Generator {
    fn parse(word: &str) -> Self {
        match word.strip_prefix("ms:") {
            Some(ms) => Generator::Takes(Duration::from_millis(ms.parse().expect("ms:N"))),
            None if word == "gate" => Generator::Gate,
            None => panic!("a generator is ms:N or gate, not {word}"),
        }
    }
}

struct Node {
    cache: Cache<Redis>,
    client: redis::Client,
    counter: redis::aio::MultiplexedConnection,
    name: String,
}

impl Node {
    async fn fetch(
        &self,
        locator: &str,
        version: u64,
        callers: usize,
        generator: Generator,
        wait: bool,
    ) -> String {
        let start = Instant::now();
        let calls = (0..callers).map(|_| {
            let cache = self.cache.clone();
            let (client, mut counter) = (self.client.clone(), self.counter.clone());
            let (locator, counted) = (locator.to_string(), runs_key(locator));
            let gate = gate_key(&locator);
            let value = format!("{locator}@{version}/{}", self.name);
            tokio::spawn(async move {
                cache
                    .fetch_served(&locator, version, FetchOptions::new(), move || async move {
                        let _: u64 = redis::cmd("INCR")
                            .arg(counted)
                            .query_async(&mut counter)
                            .await
                            .expect("the runs count");
                        match generator {
                            Generator::Takes(time) => tokio::time::sleep(time).await,
                            Generator::Gate => {
                                // A connection of its own (BLPOP blocks it), which
                                // waits as long as the gate stays shut.
                                let config =
                                    redis::AsyncConnectionConfig::new().set_response_timeout(None);
                                let mut conn = client
                                    .get_multiplexed_async_connection_with_config(&config)
                                    .await
                                    .expect("a connection for the gate");
                                let _: (String, String) = redis::cmd("BLPOP")
                                    .arg(gate)
                                    .arg(0)
                                    .query_async(&mut conn)
                                    .await
                                    .expect("the gate");
                            }
                        }
                        value
                    })
                    .await
            })
        });
        let calls: Vec<_> = calls.collect();
        let mut results = Vec::with_capacity(calls.len());
        for call in calls {
            results.push(call.await);
        }
        if wait {
            self.cache.wait_for_refreshes().await;
        }
        let ms = start.elapsed().as_millis();
        let mut served = BTreeMap::<&str, usize>::new();
        let mut values = std::collections::BTreeSet::new();
        for result in results {
            let (value, how) = result.expect("a caller panicked");
            *served.entry(how.as_str()).or_default() += 1;
            values.insert(value);
        }
        let served: Vec<String> = served.iter().map(|(k, n)| format!("{k}:{n}")).collect();
        let values: Vec<String> = values.into_iter().collect();
        format!(
            "done ms={ms} served={} values={}",
            served.join(","),
            values.join("|")
        )
    }

    async fn write(&self, locator: &str, version: u64) -> String {
        let at = unix_ns();
        let value = format!("v{version}");
        self.cache
            .fetch_with(
                locator,
                version,
                FetchOptions::new().force_sync(true),
                move || async { value },
            )
            .await;
        format!("done at={at}")
    }

    async fn watch(&self, locator: &str, want: &str, limit: Duration) -> String {
        let start = Instant::now();
        loop {
            // Version 0: any record is current for it, so a stale near copy would
            // be served as a hit, never refreshed behind the caller's back.
            let seen: String = self
                .cache
                .fetch(locator, 0_u64, || async { "absent".to_string() })
                .await;
            if seen == want {
                return format!("seen at={}", unix_ns());
            }
            if start.elapsed() > limit {
                return format!("timeout last={seen}");
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    }

    fn stats(&self) -> String {
        let s = self.cache.stats();
        format!(
            "stats hits={} stale={} misses={} elsewhere={} store_errors={}",
            s.hits, s.stale_hits, s.misses, s.refreshes_elsewhere, s.store_errors
        )
    }
}

/// A node's answer: its first word and its `key=value` fields.
#[derive(Clone, Debug)]
pub struct Answer {
    pub line: String,
    pub word: String,
    fields: BTreeMap<String, String>,
}

impl Answer {
    fn parse(line: String) -> Self {
        let mut words = line.split_whitespace();
        let word = words.next().unwrap_or_default().to_string();
        let fields = words
            .filter_map(|w| w.split_once('='))
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Answer { line, word, fields }
    }

    /// The field `key`, or `""`.
    pub fn field(&self, key: &str) -> &str {
        self.fields.get(key).map_or("", String::as_str)
    }

    /// The number in field `key`.
    ///
    /// # Panics
    ///
    /// If it is not a number.
    pub fn number(&self, key: &str) -> u128 {
        self.field(key)
            .parse()
            .unwrap_or_else(|_| panic!("no number {key} in {:?}", self.line))
    }

    /// How many of a `fetch`'s callers were served `how`.
    pub fn served(&self, how: Served) -> usize {
        self.field("served")
            .split(',')
            .filter_map(|kv| kv.split_once(':'))
            .find(|(k, _)| *k == how.as_str())
            .map_or(0, |(_, n)| n.parse().expect("a count"))
    }

    /// The distinct values a `fetch`'s callers were answered with.
    pub fn values(&self) -> Vec<&str> {
        self.field("values").split('|').collect()
    }
}

/// One node process, started by [`FleetNode::spawn`]; killed when dropped.
#[derive(Debug)]
pub struct FleetNode {
    pub name: String,
    child: Child,
    stdin: Option<ChildStdin>,
    lines: mpsc::Receiver<String>,
}

impl FleetNode {
    /// Starts `program` (with `leading` arguments first, as `["fleet-node"]` for the
    /// report) as a node named `name` over `url` and `prefix`, and waits until it is
    /// ready. Call it from the test's own thread: the child dies with that thread.
    ///
    /// # Panics
    ///
    /// If the node cannot be started or does not become ready.
    pub fn spawn(
        program: &Path,
        leading: &[&str],
        name: &str,
        url: &str,
        prefix: &str,
        options: NodeOptions,
    ) -> Self {
        let mut command = Command::new(program);
        command
            .args(leading)
            .args(["--url", url, "--prefix", prefix, "--name", name]);
        for (flag, value) in [
            ("--near-ms", options.near_cache),
            ("--miss-lock-ms", options.miss_lock_timeout),
            ("--refresh-lock-ms", options.refresh_lock_ttl),
        ] {
            if let Some(value) = value {
                command.args([flag, &value.as_millis().to_string()]);
            }
        }
        command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        test_support::process::die_with_parent(&mut command);
        let mut child = command
            .spawn()
            .unwrap_or_else(|error| panic!("node {name} ({}): {error}", program.display()));
        let stdin = child.stdin.take();
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut node = FleetNode {
            name: name.to_string(),
            child,
            stdin,
            lines,
        };
        let ready = node.answer();
        assert_eq!(ready.word, "ready", "node {name}: {:?}", ready.line);
        node
    }

    /// The node's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends one command line, without waiting for its answer.
    ///
    /// # Panics
    ///
    /// If the node is gone.
    pub fn send(&mut self, command: &str) {
        let stdin = self.stdin.as_mut().expect("the node's stdin");
        writeln!(stdin, "{command}")
            .and_then(|()| stdin.flush())
            .unwrap_or_else(|error| panic!("node {}: {command:?}: {error}", self.name));
    }

    /// The next answer, within a minute.
    ///
    /// # Panics
    ///
    /// If the node ends or says nothing for a minute.
    pub fn answer(&mut self) -> Answer {
        match self.lines.recv_timeout(ANSWER_WITHIN) {
            Ok(line) => Answer::parse(line),
            Err(error) => panic!("node {}: no answer ({error})", self.name),
        }
    }

    /// The next answer if one is there already.
    pub fn try_answer(&mut self) -> Option<Answer> {
        self.lines.try_recv().ok().map(Answer::parse)
    }

    /// Sends `command` and waits for its answer.
    pub fn ask(&mut self, command: &str) -> Answer {
        self.send(command);
        self.answer()
    }

    /// SIGKILL, as a crash: no destructor, no release of what it holds in Redis.
    pub fn kill(&mut self) {
        self.stdin = None;
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Sends a signal by name (`STOP`, `CONT`) with `kill(1)`.
    ///
    /// # Panics
    ///
    /// If `kill` fails.
    pub fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .arg(format!("-{signal}"))
            .arg(self.pid().to_string())
            .status()
            .expect("kill(1)");
        assert!(status.success(), "kill -{signal} {}", self.pid());
    }
}

impl Drop for FleetNode {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A synchronous admin connection to `url` (for counts, gates and faults).
///
/// # Panics
///
/// If Redis does not answer.
pub fn admin(url: &str) -> redis::Connection {
    redis::Client::open(url)
        .and_then(|client| client.get_connection())
        .expect("an admin connection")
}

/// How many times the generators of `locator` ran.
pub fn runs(admin: &mut redis::Connection, locator: &str) -> u64 {
    redis::cmd("GET")
        .arg(runs_key(locator))
        .query::<Option<u64>>(admin)
        .expect("GET runs")
        .unwrap_or(0)
}

/// Polls until the generators of `locator` ran `n` times, at most `limit`.
///
/// # Panics
///
/// If they have not within `limit`.
pub fn await_runs(admin: &mut redis::Connection, locator: &str, n: u64, limit: Duration) {
    let start = Instant::now();
    while runs(admin, locator) < n {
        assert!(
            start.elapsed() < limit,
            "{locator}: {} generator runs after {limit:?}, not {n}",
            runs(admin, locator)
        );
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// Opens the gate of `locator` for one generator.
pub fn open_gate(admin: &mut redis::Connection, locator: &str) {
    let _: u64 = redis::cmd("LPUSH")
        .arg(gate_key(locator))
        .arg("open")
        .query(admin)
        .expect("LPUSH gate");
}

/// What a cold herd across processes came to.
#[derive(Clone, Debug)]
pub struct HerdAcross {
    /// Generator runs in the whole fleet (counted in Redis).
    pub runs: u64,
    /// Callers that were served `Miss` (a caller that arrived after the value
    /// landed would be served `Hit`).
    pub misses: usize,
    /// Callers answered in all.
    pub answered: usize,
    /// Distinct values the callers were answered with.
    pub values: Vec<String>,
    /// Until the last caller was answered.
    pub wall: Duration,
}

/// `processes` nodes, `callers` concurrent callers in each, one missing locator whose
/// generator takes `generation`: the nodes are started and ready before any is told
/// to fetch, and are told at once.
pub fn cold_herd(
    program: &Path,
    leading: &[&str],
    url: &str,
    prefix: &str,
    processes: usize,
    callers: usize,
    generation: Duration,
) -> HerdAcross {
    let options = NodeOptions {
        miss_lock_timeout: Some(generation * 10),
        ..NodeOptions::default()
    };
    let mut nodes: Vec<FleetNode> = (0..processes)
        .map(|i| FleetNode::spawn(program, leading, &format!("n{i}"), url, prefix, options))
        .collect();
    let start = Instant::now();
    let command = format!("fetch home 1 {callers} ms:{}", generation.as_millis());
    for node in &mut nodes {
        node.send(&command);
    }
    let mut herd = HerdAcross {
        runs: 0,
        misses: 0,
        answered: 0,
        values: Vec::new(),
        wall: Duration::ZERO,
    };
    for node in &mut nodes {
        let answer = node.answer();
        assert_eq!(answer.word, "done", "{}: {:?}", node.name, answer.line);
        herd.misses += answer.served(Served::Miss);
        herd.answered += [
            Served::Hit,
            Served::Miss,
            Served::Stale,
            Served::Sync,
            Served::FailSafe,
        ]
        .into_iter()
        .map(|how| answer.served(how))
        .sum::<usize>();
        for value in answer.values() {
            if !herd.values.iter().any(|v| v == value) {
                herd.values.push(value.to_string());
            }
        }
    }
    herd.wall = start.elapsed();
    herd.runs = runs(&mut admin(url), "home");
    herd
}

/// Node A writes version v of one locator, node B (near cache of ten minutes, so
/// only the backplane can tell it) is served it: `trials` times, the delay from
/// before A's write to B's first read of the new version.
pub fn coherence(
    program: &Path,
    leading: &[&str],
    url: &str,
    prefix: &str,
    trials: u64,
) -> Vec<Duration> {
    let options = NodeOptions {
        near_cache: Some(Duration::from_secs(600)),
        ..NodeOptions::default()
    };
    let mut a = FleetNode::spawn(program, leading, "a", url, prefix, options);
    let mut b = FleetNode::spawn(program, leading, "b", url, prefix, options);
    // B's copy of v1 from its own write: one read from Redis could race the
    // event of A's write, which keeps the copy out of the near cache.
    assert_eq!(b.ask("write k 1").word, "done");
    assert_eq!(b.ask("watch k v1 5000").word, "seen");
    let mut delays = Vec::new();
    for v in 2..2 + trials {
        b.send(&format!("watch k v{v} 5000"));
        let wrote = a.ask(&format!("write k {v}"));
        let seen = b.answer();
        assert_eq!(seen.word, "seen", "b never saw v{v}: {:?}", seen.line);
        let (at, seen_at) = (wrote.number("at"), seen.number("at"));
        delays.push(Duration::from_nanos(
            u64::try_from(seen_at.saturating_sub(at)).expect("a delay"),
        ));
    }
    delays
}

/// The value at quantile `q` (0 to 1) of `values`, sorted in place.
pub fn quantile(values: &mut [Duration], q: f64) -> Duration {
    values.sort();
    let index = ((values.len() as f64 * q).ceil() as usize).clamp(1, values.len()) - 1;
    values[index]
}
