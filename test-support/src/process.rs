//! Child processes and scratch directories for tests that start servers.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering::SeqCst};

/// Makes the child get SIGKILL when the thread that spawned it ends (Linux), so a
/// killed or crashed test leaves no server behind; elsewhere the owner's `Drop` is the
/// only guard.
///
/// Spawn from the test's own thread (a `#[test]` or `#[tokio::test]` body), not from a
/// runtime's worker thread, which may end before the test does.
pub fn die_with_parent(command: &mut Command) {
    #[cfg(target_os = "linux")]
    {
        use std::os::unix::process::CommandExt;
        // SAFETY: `prctl` is async-signal-safe, as `pre_exec` requires.
        unsafe {
            command.pre_exec(|| {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                Ok(())
            });
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = command;
}

/// A fresh directory under the system's temporary directory, removed on drop.
///
/// ```
/// let dir = test_support::TempDir::new("doc");
/// let path = dir.path().to_owned();
/// assert!(path.is_dir());
/// drop(dir);
/// assert!(!path.exists());
/// ```
#[derive(Debug)]
pub struct TempDir(PathBuf);

impl TempDir {
    /// Creates `async-cache-{label}-{pid}-{n}`: unique within the process and across
    /// concurrent test processes.
    ///
    /// # Panics
    ///
    /// If the directory cannot be created.
    pub fn new(label: &str) -> Self {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let dir = std::env::temp_dir().join(format!(
            "async-cache-{label}-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, SeqCst)
        ));
        std::fs::create_dir_all(&dir)
            .unwrap_or_else(|error| panic!("a temporary directory {}: {error}", dir.display()));
        TempDir(dir)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
