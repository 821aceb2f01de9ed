//! One service (`orders`, `inventory`, `gateway`) as a real child process that can be killed
//! with SIGKILL or stopped with SIGTERM, and started again on the same port with the same
//! settings.
//!
//! The service is configured only by the environment given here (the inherited environment is
//! cleared, so a developer's `ORDERFLOW_*` variables cannot leak in), logs to a file, and is
//! ready when its `/readyz` answers 200.
//!
//! Services must not outlive the suite even when the suite itself is killed: each is started
//! through a small `sh` wrapper (as `orderflow-test-support` does for its servers) that forks a
//! detached watcher reading a pipe whose only write end is ours, then `exec`s the service so it
//! keeps the PID we spawned. If the suite dies, the pipe closes and the watcher kills the
//! service; when we kill it ourselves we tell the watcher (`dead`) so it never signals a PID
//! that may have been reused.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use tokio::io::AsyncWriteExt;
use tokio::process::{Child, ChildStdin, Command};

/// `$$` in the subshell is the wrapper's PID, which `exec` hands to the service.
const WATCHDOG: &str = r#"exec 3<&0
( (
  while read -r word <&3; do [ "$word" = dead ] && exit 0; done
  kill -9 $$ 2>/dev/null
) </dev/null >/dev/null 2>&1 & )
exec "$@" 3<&- </dev/null
"#;

/// How long a service may take to answer `/readyz` (debug builds on a busy machine migrate
/// and connect slowly).
const READY_TIMEOUT: Duration = Duration::from_secs(60);

/// A service process and what it takes to start it again.
pub struct Service {
    name: String,
    program: PathBuf,
    env: Vec<(String, String)>,
    port: u16,
    log: PathBuf,
    child: Option<Child>,
    watchdog: Option<ChildStdin>,
    /// `RLIMIT_NOFILE` (soft and hard) to start it with; `None`: inherited.
    nofile: Option<u64>,
}

impl Service {
    /// Starts `program` with `env` (plus `RUST_LOG=info` unless given), logging to
    /// `<logs>/<name>.log`, and waits until `http://127.0.0.1:<port>/readyz` answers 200.
    pub async fn start(
        name: &str,
        program: &Path,
        port: u16,
        env: Vec<(String, String)>,
        logs: &Path,
    ) -> anyhow::Result<Service> {
        Self::start_limited(name, program, port, env, logs, None).await
    }

    /// [`Service::start`] with `RLIMIT_NOFILE` set to `nofile` (soft and hard, so the service
    /// cannot raise it), for the hostile-client test.
    pub async fn start_limited(
        name: &str,
        program: &Path,
        port: u16,
        mut env: Vec<(String, String)>,
        logs: &Path,
        nofile: Option<u64>,
    ) -> anyhow::Result<Service> {
        if !env.iter().any(|(k, _)| k == "RUST_LOG") {
            env.push(("RUST_LOG".into(), "info".into()));
        }
        let mut service = Service {
            name: name.to_owned(),
            program: program.to_path_buf(),
            env,
            port,
            log: logs.join(format!("{name}.log")),
            child: None,
            watchdog: None,
            nofile,
        };
        service.spawn()?;
        service.wait_ready().await?;
        Ok(service)
    }

    fn spawn(&mut self) -> anyhow::Result<()> {
        let log = std::fs::File::options()
            .create(true)
            .append(true)
            .open(&self.log)
            .with_context(|| format!("opening {}", self.log.display()))?;
        // `ulimit -n` in sh sets the soft and the hard limit; `exec` keeps them for the service.
        let script = match self.nofile {
            Some(n) => format!("ulimit -n {n} || exit 111\n{WATCHDOG}"),
            None => WATCHDOG.to_owned(),
        };
        let mut child = Command::new("sh")
            .arg("-c")
            .arg(script)
            .arg("sh")
            .arg(&self.program)
            .env_clear()
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::piped())
            .stdout(log.try_clone()?)
            .stderr(log)
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("starting {}", self.program.display()))?;
        self.watchdog = child.stdin.take();
        self.child = Some(child);
        Ok(())
    }

    /// Waits until `/readyz` answers 200; fails early if the process exits.
    pub async fn wait_ready(&mut self) -> anyhow::Result<()> {
        let http = orderflow_runtime::http::client_builder()
            .timeout(Duration::from_secs(2))
            .build()?;
        let url = format!("{}/readyz", self.url());
        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            if let Some(status) = self
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten())
            {
                bail!(
                    "{} exited with {status} before it was ready; log: {}",
                    self.name,
                    self.log.display()
                );
            }
            if http
                .get(&url)
                .send()
                .await
                .is_ok_and(|r| r.status().is_success())
            {
                return Ok(());
            }
            if Instant::now() > deadline {
                bail!(
                    "{} not ready within {READY_TIMEOUT:?}; log: {}",
                    self.name,
                    self.log.display()
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// SIGKILL, as in a crash; returns once the process is gone.
    pub async fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.start_kill();
            let _ = child.wait().await;
        }
        if let Some(mut pipe) = self.watchdog.take() {
            // A watcher that already left has nobody to tell: ignore a broken pipe.
            let _ = pipe.write_all(b"dead\n").await;
        }
    }

    /// SIGTERM, as an orchestrator stops a pod: the service drains and exits by itself (SIGKILL
    /// after `grace`, as Kubernetes does after `terminationGracePeriodSeconds`). Returns once the
    /// process is gone, with how long it took to exit and whether it had to be killed.
    pub async fn terminate(&mut self, grace: Duration) -> anyhow::Result<(Duration, bool)> {
        let Some(mut child) = self.child.take() else {
            bail!("{} is not running", self.name);
        };
        let pid = child.id().context("the process has no pid")?;
        let asked = Instant::now();
        // `kill -TERM` rather than a signal crate: the suite has no other use for one.
        let sent = Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .status()
            .await?;
        if !sent.success() {
            bail!("kill -TERM {pid} failed: {sent}");
        }
        let killed = match tokio::time::timeout(grace, child.wait()).await {
            Ok(_) => false,
            Err(_) => {
                let _ = child.start_kill();
                let _ = child.wait().await;
                true
            }
        };
        if let Some(mut pipe) = self.watchdog.take() {
            let _ = pipe.write_all(b"dead\n").await;
        }
        Ok((asked.elapsed(), killed))
    }

    /// Starts the process again with the same port and settings and waits until it is ready.
    pub async fn restart(&mut self) -> anyhow::Result<()> {
        self.kill().await;
        self.spawn()?;
        self.wait_ready().await
    }

    /// `http://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The log file (appended to across restarts).
    pub fn log(&self) -> &Path {
        &self.log
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        if let Some(child) = self.child.as_mut() {
            let _ = child.start_kill();
        }
        // SIGKILL is on its way: tell the watcher, so it never signals a reused PID. A few
        // bytes into an empty pipe never block.
        if let Some(fd) = self.watchdog.take().and_then(|p| p.into_owned_fd().ok()) {
            use std::io::Write;
            let _ = std::fs::File::from(fd).write_all(b"dead\n");
        }
    }
}
