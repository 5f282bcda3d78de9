//! The web example's server processes and an HTTP client, for its end-to-end test.
//!
//! Each server is the example's own binary (`target/<profile>/examples/web`), the one a
//! user runs with `cargo run --example web`. A test process first asks the cargo that
//! built it to build that binary (see [`example_binary`]): `cargo test` builds examples
//! only when no target filter is given, and an example left over from an earlier build
//! may be stale, so neither "it is there" nor "it is not" can be trusted. The build is
//! a no-op when the binary is up to date.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;
#[cfg(feature = "redis")]
pub use test_support::RedisServer;
pub use test_support::TempDir;
use test_support::process::die_with_parent;

/// The example's binary, built once per test process with this test's profile,
/// target and features, into this test's target directory.
///
/// Why not the alternatives: `CARGO_BIN_EXE_<name>` exists only for `[[bin]]`
/// targets, and a bin may not use dev-dependencies (the example's axum, SQLite, ...)
/// without making them everyone's dependencies; running this test binary again as the
/// server made the server a `#[test]` that always passed.
pub fn example_binary() -> &'static Path {
    static BINARY: OnceLock<PathBuf> = OnceLock::new();
    BINARY.get_or_init(build_example)
}

fn build_example() -> PathBuf {
    // This test runs as `<target dir>/[<triple>/]<profile dir>/deps/web-<hash>`.
    let exe = std::env::current_exe().expect("the test binary's path");
    let profile_dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("the test binary lies in <profile dir>/deps");
    let profile = match profile_dir.file_name().and_then(|name| name.to_str()) {
        Some("debug") => "dev",
        Some(name) => name,
        None => panic!("no profile directory above {}", exe.display()),
    };
    let above = profile_dir.parent().expect("a target directory");
    // Cargo marks the target directory's root; a cross build adds a triple below it.
    let (target_dir, triple) = if above.join("CACHEDIR.TAG").exists() {
        (above, None)
    } else {
        let triple = above.file_name().and_then(|name| name.to_str());
        (above.parent().expect("a target directory"), triple)
    };

    let mut command = Command::new(env!("CARGO"));
    command
        .args([
            "build",
            "--example",
            "web",
            "--message-format=json-render-diagnostics",
        ])
        .arg("--manifest-path")
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("Cargo.toml"))
        .args(["--package", env!("CARGO_PKG_NAME"), "--profile", profile])
        .env("CARGO_TARGET_DIR", target_dir)
        .stdin(Stdio::null())
        .stderr(Stdio::inherit());
    if let Some(triple) = triple {
        command.args(["--target", triple]);
    }
    if cfg!(feature = "redis") {
        command.args(["--features", "redis"]);
    }
    let output = command.output().expect("cargo runs");
    assert!(
        output.status.success(),
        "`cargo build --example web` failed ({}); its errors are above",
        output.status
    );
    // Cargo says where it put the executable: no guessing at file names.
    let executable = String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .filter(|message| {
            message["reason"] == "compiler-artifact" && message["target"]["name"] == "web"
        })
        .find_map(|message| message["executable"].as_str().map(PathBuf::from))
        .expect("cargo reports the web example's executable");
    assert!(
        executable.is_file(),
        "{} is not a file",
        executable.display()
    );
    executable
}

/// One server process, killed on drop.
pub struct WebServer {
    child: Option<Child>,
    pub addr: SocketAddr,
    output: Arc<Mutex<Vec<String>>>,
    reader: Option<std::thread::JoinHandle<()>>,
}

impl WebServer {
    /// Starts the example with `args` (plus `--addr 127.0.0.1:0`) and waits for its
    /// `listening on` line.
    pub fn start(args: &[&str]) -> Self {
        let mut all = vec!["--addr", "127.0.0.1:0"];
        all.extend_from_slice(args);
        let mut command = Command::new(example_binary());
        command
            .args(all)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        die_with_parent(&mut command);
        let mut child = command.spawn().expect("the server process starts");
        let stdout = child.stdout.take().expect("piped stdout");
        let output = Arc::new(Mutex::new(Vec::new()));
        let (listening, addr) = mpsc::channel();
        let lines = output.clone();
        let reader = std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if let Some(addr) = line.strip_prefix("listening on http://") {
                    let _ = listening.send(addr.trim().to_string());
                }
                lines.lock().unwrap().push(line);
            }
        });
        let mut server = WebServer {
            child: Some(child),
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            output,
            reader: Some(reader),
        };
        match addr.recv_timeout(Duration::from_secs(30)) {
            Ok(addr) => server.addr = addr.parse().expect("a socket address"),
            Err(_) => panic!(
                "the server did not print `listening on` within 30 s; its output: {:?}",
                server.output()
            ),
        }
        server
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("running").id()
    }

    /// What it printed so far.
    pub fn output(&self) -> Vec<String> {
        self.output.lock().unwrap().clone()
    }

    /// Sends SIGTERM and waits (at most 20 s) for a clean exit; returns what it printed.
    #[cfg(unix)]
    pub fn terminate(mut self) -> Vec<String> {
        let mut child = self.child.take().expect("running");
        let status = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .expect("kill(1)");
        assert!(status.success(), "kill -TERM failed");
        let deadline = Instant::now() + Duration::from_secs(20);
        let status = loop {
            if let Some(status) = child.try_wait().expect("the child's status") {
                break status;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "the server did not exit within 20 s of SIGTERM; its output: {:?}",
                    self.output()
                );
            }
            std::thread::sleep(Duration::from_millis(10));
        };
        if let Some(reader) = self.reader.take() {
            let _ = reader.join();
        }
        let output = self.output();
        assert!(status.success(), "exit status {status}; output: {output:?}");
        output
    }
}

impl Drop for WebServer {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// The `final stats` JSON a server prints after draining its refreshes.
pub fn final_stats(output: &[String]) -> serde_json::Value {
    let line = output
        .iter()
        .find_map(|line| line.strip_prefix("drained; final stats: "))
        .unwrap_or_else(|| panic!("no final stats line in {output:?}"));
    serde_json::from_str(line).expect("final stats are JSON")
}

/// A response.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub x_cache: Option<String>,
    pub body: String,
    pub elapsed: Duration,
}

impl Reply {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body)
            .unwrap_or_else(|error| panic!("not JSON ({error}): {}", self.body))
    }

    /// `x-cache`, which must be there.
    pub fn served(&self) -> &str {
        self.x_cache
            .as_deref()
            .unwrap_or_else(|| panic!("no x-cache header on {self:?}"))
    }
}

/// One request on a fresh HTTP/1.1 connection, timed from connect to the last byte.
pub async fn request(addr: SocketAddr, method: &str, path: &str, body: Option<&str>) -> Reply {
    let started = Instant::now();
    let stream = tokio::net::TcpStream::connect(addr)
        .await
        .expect("the server accepts");
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .expect("an HTTP/1.1 handshake");
    tokio::spawn(connection);
    let mut builder = hyper::Request::builder()
        .method(method)
        .uri(path)
        .header(hyper::header::HOST, addr.to_string());
    if body.is_some() {
        builder = builder.header(hyper::header::CONTENT_TYPE, "application/json");
    }
    let request = builder
        .body(Full::new(Bytes::from(body.unwrap_or("").to_owned())))
        .expect("a valid request");
    let response = sender
        .send_request(request)
        .await
        .expect("the server answers");
    let status = response.status().as_u16();
    let x_cache = response
        .headers()
        .get("x-cache")
        .map(|value| value.to_str().expect("an ASCII header").to_string());
    let bytes = response
        .into_body()
        .collect()
        .await
        .expect("the whole body")
        .to_bytes();
    Reply {
        status,
        x_cache,
        body: String::from_utf8(bytes.to_vec()).expect("a UTF-8 body"),
        elapsed: started.elapsed(),
    }
}

pub async fn get(addr: SocketAddr, path: &str) -> Reply {
    request(addr, "GET", path, None).await
}

pub async fn put(addr: SocketAddr, path: &str, body: &str) -> Reply {
    request(addr, "PUT", path, Some(body)).await
}

pub async fn stats(addr: SocketAddr) -> serde_json::Value {
    let reply = get(addr, "/stats").await;
    assert_eq!(reply.status, 200, "{reply:?}");
    reply.json()
}

/// Polls `/stats` (every 10 ms, for at most 20 s) until `done` holds; the stats then.
pub async fn stats_when(
    addr: SocketAddr,
    what: &str,
    done: impl Fn(&serde_json::Value) -> bool,
) -> serde_json::Value {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let now = stats(addr).await;
        if done(&now) {
            return now;
        }
        assert!(
            Instant::now() < deadline,
            "not within 20 s: {what}; stats: {now}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// A counter of a stats JSON.
pub fn count(stats: &serde_json::Value, name: &str) -> u64 {
    stats[name]
        .as_u64()
        .unwrap_or_else(|| panic!("no counter {name} in {stats}"))
}
