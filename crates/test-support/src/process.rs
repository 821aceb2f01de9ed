//! Spawns server processes that cannot outlive the process that started them.
//!
//! `Drop` handles panics, but a test binary can also be killed outright (SIGKILL, a timeout in
//! nextest, Ctrl-C twice). To stop orphaned servers from piling up, each server is started
//! through a tiny `sh` wrapper:
//!
//! * the wrapper forks a detached watcher (double fork, so it is not the server's child and can
//!   never be mistaken for a crashed backend by PostgreSQL's postmaster), then `exec`s the
//!   server, so the server keeps the PID we spawned and stays our direct child;
//! * the watcher blocks reading a pipe whose only write end lives in this process. When this
//!   process dies for any reason the kernel closes that end, the read hits EOF, and the watcher
//!   stops the server if it still runs (its stop signal, SIGKILL after 30 s) and removes the
//!   server's scratch directory;
//! * on the happy path we write words into the pipe: `stop` (signal the server, wait for it),
//!   `dead` (we killed it ourselves; do not signal that PID again, but still clean up if we
//!   die before restarting it) and `detach` (someone else owns cleanup now: just exit).

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use crate::error::{Error, Result};

/// The wrapper script. Arguments: stop signal, scratch dir to delete on orphaning (may be
/// empty), then the server's argv.
const WATCHDOG: &str = r#"sig=$1; cleanup=$2; shift 2
stop_server() {
  kill -s "$sig" $$ 2>/dev/null
  n=0
  while kill -0 $$ 2>/dev/null; do
    n=$((n+1))
    [ "$n" -eq 300 ] && kill -s KILL $$ 2>/dev/null
    sleep 0.1
  done
}
exec 3<&0
( (
  live=1
  while read -r cmd <&3; do
    case $cmd in
      stop) [ -n "$live" ] && stop_server; live= ;;
      dead) live= ;;
      *) exit 0 ;;
    esac
  done
  [ -n "$live" ] && stop_server
  [ -n "$cleanup" ] && rm -rf "$cleanup"
  exit 0
) </dev/null >/dev/null 2>&1 & )
exec "$@" 3<&- </dev/null
"#;

/// What to run and how to clean up after it.
pub(crate) struct Spec<'a> {
    pub program: &'a Path,
    pub args: Vec<String>,
    /// stdout and stderr go here (appended), so pipes never fill up and failures can be shown.
    pub log: &'a Path,
    /// Signal name (`TERM`, `INT`) that asks the server for a graceful shutdown.
    pub stop_signal: &'static str,
    /// Deleted by the watcher if this process dies while the server runs.
    pub cleanup_dir: Option<&'a Path>,
    /// Run as this (uid, gid): PostgreSQL refuses to run as root.
    pub run_as: Option<(u32, u32)>,
    pub current_dir: &'a Path,
}

/// A running server with its watchdog.
pub(crate) struct Supervised {
    child: Child,
    watchdog: Option<ChildStdin>,
    exit: Option<ExitStatus>,
}

pub(crate) fn spawn(spec: Spec<'_>) -> Result<Supervised> {
    let log = File::options()
        .create(true)
        .append(true)
        .open(spec.log)
        .map_err(|e| Error::io(format!("opening log {}", spec.log.display()), e))?;
    let log2 = log
        .try_clone()
        .map_err(|e| Error::io("duplicating log file handle", e))?;
    let mut cmd = Command::new("sh");
    cmd.arg("-c")
        .arg(WATCHDOG)
        .arg("sh")
        .arg(spec.stop_signal)
        .arg(spec.cleanup_dir.map(PathBuf::from).unwrap_or_default())
        .arg(spec.program)
        .args(&spec.args)
        .current_dir(spec.current_dir)
        .stdin(Stdio::piped())
        .stdout(log)
        .stderr(log2);
    {
        use std::os::unix::process::CommandExt;
        // A process group of its own: a Ctrl-C in the terminal then reaches only the process
        // that started the server (`cargo xtask up` stops its servers in reverse order of
        // start), not the server too. The watchdog still stops it if that process dies.
        cmd.process_group(0);
    }
    if let Some((uid, gid)) = spec.run_as {
        use std::os::unix::process::CommandExt;
        cmd.uid(uid).gid(gid);
    }
    let mut child = cmd
        .spawn()
        .map_err(|e| Error::io(format!("spawning {}", spec.program.display()), e))?;
    let watchdog = child.stdin.take();
    Ok(Supervised {
        child,
        watchdog,
        exit: None,
    })
}

impl Supervised {
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The exit status once the process has ended (reaping it if needed).
    pub fn exit_status(&mut self) -> Option<ExitStatus> {
        if self.exit.is_none() {
            self.exit = self.child.try_wait().ok().flatten();
        }
        self.exit
    }

    pub fn is_running(&mut self) -> bool {
        self.exit_status().is_none()
    }

    /// SIGKILL, as in a crash; returns once the process is gone. The watcher stays, to clean
    /// up the scratch directory if this process dies before the server is restarted.
    pub fn kill(&mut self) {
        if self.is_running() {
            let _ = self.child.kill();
            self.exit = self.child.wait().ok();
        }
        self.tell_watchdog("dead");
    }

    /// Asks for a graceful shutdown and waits up to `timeout`, then kills.
    pub fn stop(&mut self, timeout: Duration) {
        if !self.is_running() {
            return;
        }
        self.tell_watchdog("stop");
        let deadline = Instant::now() + timeout;
        while self.is_running() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        self.kill();
    }

    /// [`Self::stop`] for async callers: never blocks a runtime thread while waiting.
    pub async fn stop_async(&mut self, timeout: Duration) {
        if self.is_running() {
            self.tell_watchdog("stop");
            let deadline = Instant::now() + timeout;
            while self.is_running() && Instant::now() < deadline {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
        self.kill();
    }

    fn tell_watchdog(&mut self, word: &str) {
        if let Some(pipe) = self.watchdog.as_mut() {
            // If the watcher already left, there is nobody to tell: ignore the broken pipe.
            let _ = writeln!(pipe, "{word}");
        }
    }
}

impl Drop for Supervised {
    fn drop(&mut self) {
        // Owners stop gracefully when they want to; this is the backstop. Whoever drops us
        // cleans up (or deliberately keeps) the scratch directory, so the watcher just leaves.
        self.kill();
        self.tell_watchdog("detach");
    }
}

/// The last `lines` lines of a log file, for error messages.
pub(crate) fn log_tail(path: &Path, lines: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// Looks up `(uid, gid)` of a user in `/etc/passwd`.
pub(crate) fn lookup_user(name: &str) -> Option<(u32, u32)> {
    let passwd = std::fs::read_to_string("/etc/passwd").ok()?;
    passwd.lines().find_map(|line| {
        let f: Vec<&str> = line.split(':').collect();
        if f.len() > 3 && f[0] == name {
            Some((f[2].parse().ok()?, f[3].parse().ok()?))
        } else {
            None
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sleeper(dir: &Path, cleanup: Option<&Path>) -> Supervised {
        spawn(Spec {
            program: Path::new("sleep"),
            args: vec!["600".into()],
            log: &dir.join("log"),
            stop_signal: "TERM",
            cleanup_dir: cleanup,
            run_as: None,
            current_dir: dir,
        })
        .unwrap()
    }

    fn wait_until(mut done: impl FnMut() -> bool) -> bool {
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if done() {
                return true;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        false
    }

    fn scratch(dir: &Path) -> PathBuf {
        let scratch = dir.join("scratch");
        std::fs::create_dir(&scratch).unwrap();
        scratch
    }

    #[test]
    fn graceful_stop_signals_the_server_and_keeps_its_files() {
        let dir = tempfile::tempdir().unwrap();
        let scratch = scratch(dir.path());
        let mut p = sleeper(dir.path(), Some(&scratch));
        assert!(p.is_running());
        p.stop(Duration::from_secs(10));
        let status = p.exit_status().unwrap();
        // Ended by the watcher's SIGTERM, not by the SIGKILL fallback.
        use std::os::unix::process::ExitStatusExt;
        assert_eq!(status.signal(), Some(15));
        drop(p);
        std::thread::sleep(Duration::from_millis(300));
        assert!(scratch.exists());
    }

    #[test]
    fn orphaned_server_is_stopped_and_its_scratch_dir_removed() {
        let dir = tempfile::tempdir().unwrap();
        let scratch = scratch(dir.path());
        let mut p = sleeper(dir.path(), Some(&scratch));
        // Closing the pipe without a word is exactly what the kernel does when we die.
        drop(p.watchdog.take());
        assert!(wait_until(|| !p.is_running()), "server survived its parent");
        assert!(wait_until(|| !scratch.exists()), "scratch dir left behind");
    }

    #[test]
    fn killed_server_dir_is_still_removed_if_we_die_before_restarting() {
        let dir = tempfile::tempdir().unwrap();
        let scratch = scratch(dir.path());
        let mut p = sleeper(dir.path(), Some(&scratch));
        // Real callers kill only servers that are up, i.e. after the wrapper has forked its
        // watcher and exec'd the server; wait for that point too.
        let comm = format!("/proc/{}/comm", p.pid());
        assert!(wait_until(
            || std::fs::read_to_string(&comm).is_ok_and(|c| c.trim() == "sleep")
        ));
        p.kill();
        use std::os::unix::process::ExitStatusExt;
        assert_eq!(p.exit_status().unwrap().signal(), Some(9));
        std::thread::sleep(Duration::from_millis(200));
        assert!(
            scratch.exists(),
            "a killed server keeps its files for a restart"
        );
        drop(p.watchdog.take());
        assert!(wait_until(|| !scratch.exists()), "scratch dir left behind");
    }

    #[test]
    fn finds_root_in_passwd() {
        assert_eq!(lookup_user("root"), Some((0, 0)));
        assert_eq!(lookup_user("no-such-user-here"), None);
    }
}
