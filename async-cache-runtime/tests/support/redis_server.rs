//! A real `redis-server` for the Redis tier's tests: started on a free loopback port
//! in a temporary directory, with persistence off, and killed when dropped.
//!
//! Nothing is skipped when the binary is missing: starting fails with a message that
//! says how to install it (`scripts/test.sh` does).

use std::io::Read;
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering::SeqCst};
use std::time::{Duration, Instant};

pub struct RedisServer {
    port: u16,
    dir: PathBuf,
    child: Option<Child>,
}

impl RedisServer {
    /// Starts a server on a free port of 127.0.0.1 and waits until it answers.
    pub fn start() -> Self {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|listener| listener.local_addr())
            .expect("a free loopback port")
            .port();
        Self::start_on(port)
    }

    /// Connects to a server another process started (the child side of a two-process
    /// test): not killed on drop.
    pub fn attach(port: u16) -> Self {
        RedisServer {
            port,
            dir: PathBuf::new(),
            child: None,
        }
    }

    fn start_on(port: u16) -> Self {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let dir = std::env::temp_dir().join(format!(
            "async-cache-redis-{}-{}-{port}",
            std::process::id(),
            NEXT.fetch_add(1, SeqCst)
        ));
        std::fs::create_dir_all(&dir).expect("a temporary directory for redis-server");
        let mut server = RedisServer {
            port,
            dir,
            child: None,
        };
        server.spawn();
        server
    }

    fn spawn(&mut self) {
        let mut command = Command::new("redis-server");
        #[cfg(target_os = "linux")]
        {
            use std::os::unix::process::CommandExt;
            // SAFETY: `prctl` is async-signal-safe, as `pre_exec` requires. The server
            // gets SIGKILL when the thread that started it ends: a killed test
            // process leaves no server behind. (Start servers from the test's own
            // thread, as `#[tokio::test]` bodies do, not from a pool's worker.)
            unsafe {
                command.pre_exec(|| {
                    libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                    Ok(())
                });
            }
        }
        let child = command
            .args(["--port", &self.port.to_string()])
            .args(["--bind", "127.0.0.1"])
            .args(["--save", ""])
            .args(["--appendonly", "no"])
            .arg("--dir")
            .arg(&self.dir)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn();
        let mut child = match child {
            Ok(child) => child,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => panic!(
                "redis-server is not installed (or not on PATH): the Redis tier's tests need a \
                 real server. Install it (Debian/Ubuntu: `apt-get install -y redis-server`) or \
                 run `scripts/test.sh`, which installs it."
            ),
            Err(error) => panic!("could not start redis-server: {error}"),
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Ok(Some(status)) = child.try_wait() {
                let mut stderr = String::new();
                if let Some(mut pipe) = child.stderr.take() {
                    let _ = pipe.read_to_string(&mut stderr);
                }
                panic!("redis-server exited at start ({status}): {stderr}");
            }
            if self.ping() {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "redis-server did not answer on port {} within 10 s",
                self.port
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        self.child = Some(child);
    }

    fn ping(&self) -> bool {
        let Ok(client) = redis::Client::open(self.url()) else {
            return false;
        };
        let Ok(mut conn) = client.get_connection_with_timeout(Duration::from_millis(200)) else {
            return false;
        };
        redis::cmd("PING").query::<String>(&mut conn).is_ok()
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    /// A plain synchronous connection, to look at or tamper with what the cache stored.
    pub fn admin(&self) -> redis::Connection {
        redis::Client::open(self.url())
            .expect("a valid URL")
            .get_connection_with_timeout(Duration::from_secs(2))
            .expect("the test's redis-server answers")
    }

    fn pid(&self) -> String {
        self.child
            .as_ref()
            .expect("a server this process started")
            .id()
            .to_string()
    }

    fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .args([signal, &self.pid()])
            .status()
            .expect("kill(1)");
        assert!(status.success(), "kill {signal} failed");
    }

    /// Freezes the server (SIGSTOP): connections stay open, nothing answers.
    pub fn stall(&self) {
        self.signal("-STOP");
    }

    /// Thaws a stalled server.
    pub fn resume(&self) {
        self.signal("-CONT");
    }

    /// Kills the server (SIGKILL): its data is gone.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = Command::new("kill")
                .args(["-CONT", &child.id().to_string()])
                .status();
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts a fresh server on the same port after [`kill`](Self::kill).
    pub fn restart(&mut self) {
        self.kill();
        self.spawn();
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill();
        if !self.dir.as_os_str().is_empty() {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}
