//! A real `redis-server` for the shared tier's tests, examples and benchmarks: started
//! on a free loopback port in a temporary directory, with persistence off, and killed
//! when dropped.
//!
//! Tests do not skip when the binary is missing: [`RedisServer::start`] fails with a
//! message that says how to install it (`scripts/test.sh` does). Benchmarks that would
//! rather report "no Redis" use [`RedisServer::try_start`].
//!
//! For fault tests the server can be frozen ([`stall`](RedisServer::stall): connections
//! stay open and nothing answers), thawed, killed (its data is gone) and restarted on
//! the same port.
//!
//! [`RedisCluster`] is a Redis Cluster of such servers (contract §7.4 (crate docs)):
//! primaries, and replicas of them for failover tests.

use std::fmt;
use std::io::Read;
use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::process::{TempDir, die_with_parent};

mod cluster;

pub use cluster::{RedisCluster, SLOTS};

/// How long a starting server may take to answer `PING`.
const START_TIMEOUT: Duration = Duration::from_secs(10);

/// How many free ports to try: one chosen free may be taken before the server binds it.
const START_ATTEMPTS: usize = 5;

/// One `redis-server` process on 127.0.0.1 (or one that another process started, see
/// [`attach`](Self::attach)).
///
/// ```no_run
/// use test_support::RedisServer;
///
/// let mut server = RedisServer::start();
/// let _: () = redis::cmd("SET").arg("k").arg("v").query(&mut server.admin()).unwrap();
/// server.stall(); // a cache over `server.url()` now times out
/// server.resume();
/// server.restart(); // the same port, no data
/// let value: Option<String> = redis::cmd("GET").arg("k").query(&mut server.admin()).unwrap();
/// assert_eq!(value, None);
/// ```
pub struct RedisServer {
    port: u16,
    args: Vec<String>,
    /// `None` for an attached server.
    dir: Option<TempDir>,
    child: Option<Child>,
}

/// Why a server did not start.
#[derive(Debug)]
pub enum StartError {
    /// `redis-server` is not on `PATH`.
    NotInstalled,
    /// One of its ports was taken (by another process, between choosing it and
    /// binding it).
    PortInUse(String),
    /// It could not be spawned, exited at start, or did not answer in time.
    Failed(String),
}

impl fmt::Display for StartError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StartError::NotInstalled => f.write_str(
                "redis-server is not installed (or not on PATH): the shared tier's tests need \
                 a real server. Install it (Debian/Ubuntu: `apt-get install -y redis-server`) \
                 or run `scripts/test.sh`, which installs it.",
            ),
            StartError::PortInUse(why) | StartError::Failed(why) => f.write_str(why),
        }
    }
}

impl std::error::Error for StartError {}

impl RedisServer {
    /// Starts a server on a free port of 127.0.0.1 and waits until it answers.
    ///
    /// # Panics
    ///
    /// If it does not start (the message says how to install a missing
    /// `redis-server`).
    pub fn start() -> Self {
        Self::start_with(&[])
    }

    /// [`start`](Self::start), with more `redis-server` arguments (say
    /// `["--maxmemory", "1mb"]`).
    ///
    /// # Panics
    ///
    /// As [`start`](Self::start).
    pub fn start_with(args: &[&str]) -> Self {
        Self::try_start_with(args).unwrap_or_else(|error| panic!("{error}"))
    }

    /// [`start`](Self::start), or why not.
    pub fn try_start() -> Result<Self, StartError> {
        Self::try_start_with(&[])
    }

    /// [`start_with`](Self::start_with), or why not.
    pub fn try_start_with(args: &[&str]) -> Result<Self, StartError> {
        let mut attempt = 1;
        loop {
            let port = free_port()?;
            let mut server = RedisServer {
                port,
                args: args.iter().map(|&arg| arg.to_owned()).collect(),
                dir: Some(TempDir::new(&format!("redis-{port}"))),
                child: None,
            };
            match server.spawn() {
                Ok(()) => return Ok(server),
                Err(StartError::PortInUse(_)) if attempt < START_ATTEMPTS => attempt += 1,
                Err(error) => return Err(error),
            }
        }
    }

    /// A server another process started (the child side of a multi-process test): it
    /// can be reached and inspected, but it is not this value's to signal, and it is
    /// not killed on drop.
    pub fn attach(port: u16) -> Self {
        RedisServer {
            port,
            args: Vec::new(),
            dir: None,
            child: None,
        }
    }

    fn spawn(&mut self) -> Result<(), StartError> {
        let dir = self
            .dir
            .as_ref()
            .expect("only a server this value started is spawned");
        // A file, not a pipe: a pipe nobody drains would stall a chatty server.
        let log = dir.path().join("redis.log");
        let mut command = Command::new("redis-server");
        command
            .args(["--port", &self.port.to_string()])
            .args(["--bind", "127.0.0.1"])
            .args(["--save", ""])
            .args(["--appendonly", "no"])
            .arg("--dir")
            .arg(dir.path())
            .arg("--logfile")
            .arg(&log)
            .args(&self.args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        die_with_parent(&mut command);
        let mut child = command.spawn().map_err(|error| {
            if error.kind() == std::io::ErrorKind::NotFound {
                StartError::NotInstalled
            } else {
                StartError::Failed(format!("could not start redis-server: {error}"))
            }
        })?;
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if let Ok(Some(status)) = child.try_wait() {
                let mut output = String::new();
                if let Some(mut pipe) = child.stderr.take() {
                    let _ = pipe.read_to_string(&mut output);
                }
                output.push_str(&std::fs::read_to_string(&log).unwrap_or_default());
                let why = format!("redis-server exited at start ({status}): {output}");
                return Err(if output.contains("Address already in use") {
                    StartError::PortInUse(why)
                } else {
                    StartError::Failed(why)
                });
            }
            // Another process's server on the port would answer too: only ours counts.
            if self.answering_pid() == Some(child.id()) {
                break;
            }
            if Instant::now() >= deadline {
                let _ = child.kill();
                let _ = child.wait();
                return Err(StartError::Failed(format!(
                    "redis-server did not answer on port {} within {START_TIMEOUT:?}",
                    self.port
                )));
            }
            // Polling a process we do not control: there is nothing to be notified by.
            std::thread::sleep(Duration::from_millis(20));
        }
        self.child = Some(child);
        Ok(())
    }

    /// The process id of the server answering on the port, if one answers.
    fn answering_pid(&self) -> Option<u32> {
        let client = redis::Client::open(self.url()).ok()?;
        let mut conn = client
            .get_connection_with_timeout(Duration::from_millis(200))
            .ok()?;
        conn.set_read_timeout(Some(Duration::from_millis(200)))
            .ok()?;
        let info: String = redis::cmd("INFO").arg("server").query(&mut conn).ok()?;
        info.lines()
            .find_map(|line| line.strip_prefix("process_id:"))
            .and_then(|pid| pid.trim().parse().ok())
    }

    /// Whether it answers `PING` now (within a short timeout).
    pub fn ping(&self) -> bool {
        let Ok(client) = redis::Client::open(self.url()) else {
            return false;
        };
        let Ok(mut conn) = client.get_connection_with_timeout(Duration::from_millis(200)) else {
            return false;
        };
        // A stalled server accepts connections (the kernel does) but never answers.
        if conn
            .set_read_timeout(Some(Duration::from_millis(200)))
            .is_err()
        {
            return false;
        }
        redis::cmd("PING").query::<String>(&mut conn).is_ok()
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// `redis://127.0.0.1:{port}/`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    /// A plain synchronous connection, to look at or tamper with what a cache stored.
    /// Its commands fail after 10 s without an answer rather than hang the test.
    ///
    /// # Panics
    ///
    /// If the server does not answer within 2 s (say, while stalled).
    pub fn admin(&self) -> redis::Connection {
        let conn = redis::Client::open(self.url())
            .expect("a valid URL")
            .get_connection_with_timeout(Duration::from_secs(2))
            .expect("the test's redis-server answers");
        conn.set_read_timeout(Some(Duration::from_secs(10)))
            .and_then(|()| conn.set_write_timeout(Some(Duration::from_secs(10))))
            .expect("socket timeouts");
        conn
    }

    /// The server's process id.
    ///
    /// # Panics
    ///
    /// If this value did not start it, or it was killed.
    pub fn pid(&self) -> u32 {
        self.child
            .as_ref()
            .expect("a running server this value started")
            .id()
    }

    #[cfg(unix)]
    fn signal(&self, signal: libc::c_int) {
        let pid = libc::pid_t::try_from(self.pid()).expect("a pid fits pid_t");
        // SAFETY: `kill` has no memory-safety preconditions; the pid is our own child,
        // not yet waited for, so it cannot have been reused.
        let status = unsafe { libc::kill(pid, signal) };
        assert_eq!(
            status,
            0,
            "kill({pid}, {signal}): {}",
            std::io::Error::last_os_error()
        );
    }

    /// Freezes the server (SIGSTOP): connections stay open and nothing answers, the
    /// way a hung or overloaded server looks to its clients.
    #[cfg(unix)]
    pub fn stall(&self) {
        self.signal(libc::SIGSTOP);
    }

    /// Thaws a [stalled](Self::stall) server.
    #[cfg(unix)]
    pub fn resume(&self) {
        self.signal(libc::SIGCONT);
    }

    /// Kills the server (SIGKILL), stalled or not: connections drop and its data is
    /// gone. Does nothing if it is not running.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Whether this value started the server and it has not been killed.
    pub fn is_running(&self) -> bool {
        self.child.is_some()
    }

    /// Kills the server if it runs, then starts a fresh one (no data) on the same port
    /// with the same arguments.
    ///
    /// # Panics
    ///
    /// If this value did not start the server, or the new one does not start.
    pub fn restart(&mut self) {
        self.kill();
        self.spawn().unwrap_or_else(|error| panic!("{error}"));
    }
}

/// A loopback port that was free a moment ago.
pub(crate) fn free_port() -> Result<u16, StartError> {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|addr| addr.port())
        .map_err(|error| StartError::Failed(format!("no free loopback port: {error}")))
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill();
    }
}

impl fmt::Debug for RedisServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisServer")
            .field("port", &self.port)
            .field("args", &self.args)
            .field("pid", &self.child.as_ref().map(Child::id))
            .finish()
    }
}
