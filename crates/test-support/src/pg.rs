//! A real PostgreSQL cluster (initdb + postgres) run from a directory, on a loopback port.
//!
//! Used four ways: lazily, one per test process, by [`crate::fresh_database`]; by
//! `cargo xtask test` as one shared server for a whole run (its URL handed to tests through
//! `ORDERFLOW_TEST_PG_URL`); by `cargo xtask up` as the developer's durable database; and by
//! tests of a database outage, which stop their own server and start it again
//! ([`PgCluster::stop_in_place`], [`PgCluster::start_again`]).
//! The API is blocking (std::process), which suits xtask; tests go through the async wrappers.
//!
//! PostgreSQL refuses to run as root, so as root the cluster runs as the `postgres` user that
//! Debian's package creates, and its directory is handed to that user.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use tempfile::TempDir;

use crate::discover::{INSTALL_HINT, PG_BIN_DIR_ENV, find_pg_bin_dir};
use crate::error::{Error, Result};
use crate::process::{self, Spec, Supervised};

/// User that owns the cluster when we run as root.
const UNPRIVILEGED_USER: &str = "postgres";
/// Superuser role created by initdb; every URL we hand out logs in as it (trust auth).
pub const SUPERUSER: &str = "postgres";
const READY_TIMEOUT: Duration = Duration::from_secs(60);
const STOP_TIMEOUT: Duration = Duration::from_secs(30);

/// A running PostgreSQL server. Dropping it shuts the server down (fast shutdown).
pub struct PgCluster {
    base: PathBuf,
    port: u16,
    process: Option<Supervised>,
    /// How it was launched, to launch it again after [`PgCluster::stop_in_place`].
    launched: Option<Launch>,
    // Declared last so the server stops before a temporary directory is removed.
    _temp: Option<TempDir>,
}

impl PgCluster {
    /// Starts a durable cluster in `dir` (data in `dir/data`, created by initdb on first use,
    /// kept afterwards), on `port` or a free port. For `cargo xtask up`.
    pub fn start_in(dir: &Path, port: Option<u16>) -> Result<PgCluster> {
        Self::start(dir, port, true, None)
    }

    /// Starts a throwaway cluster in a new temporary directory that is deleted when the
    /// cluster is dropped or this process dies. Durability is switched off (`fsync=off`) for
    /// speed. For tests and for `cargo xtask test`'s shared server.
    pub fn start_temporary() -> Result<PgCluster> {
        let temp = tempfile::Builder::new()
            .prefix("orderflow-pg-")
            .tempdir()
            .map_err(|e| Error::io("creating PostgreSQL scratch dir", e))?;
        let base = temp.path().to_path_buf();
        let mut cluster = Self::start(&base, None, false, Some(&base))?;
        cluster._temp = Some(temp);
        Ok(cluster)
    }

    fn start(
        dir: &Path,
        port: Option<u16>,
        durable: bool,
        cleanup: Option<&Path>,
    ) -> Result<PgCluster> {
        let run_as = run_as()?;
        std::fs::create_dir_all(dir)
            .map_err(|e| Error::io(format!("creating {}", dir.display()), e))?;
        let base = dir
            .canonicalize()
            .map_err(|e| Error::io(format!("resolving {}", dir.display()), e))?;
        if let Some((uid, gid)) = run_as {
            std::os::unix::fs::chown(&base, Some(uid), Some(gid))
                .map_err(|e| Error::io(format!("handing {} to postgres", base.display()), e))?;
        }
        let data = base.join("data");
        if !data.join("PG_VERSION").exists() {
            initdb(&base, &data, run_as, durable)?;
        }
        // With a fixed port a failure is final; with a picked one, retry in case another
        // process grabbed the port between picking and binding.
        let attempts = if port.is_some() { 1 } else { 3 };
        let mut last_error = None;
        for _ in 0..attempts {
            let port = port.unwrap_or_else(crate::free_port);
            let mut cluster = PgCluster {
                base: base.clone(),
                port,
                process: None,
                launched: None,
                _temp: None,
            };
            match cluster.launch(run_as, durable, cleanup) {
                Ok(()) => return Ok(cluster),
                Err(e) => last_error = Some(e),
            }
        }
        Err(last_error.expect("at least one attempt"))
    }

    fn launch(
        &mut self,
        run_as: Option<(u32, u32)>,
        durable: bool,
        cleanup: Option<&Path>,
    ) -> Result<()> {
        self.launched = Some(Launch {
            run_as,
            durable,
            cleanup: cleanup.map(Path::to_path_buf),
        });
        let mut args: Vec<String> = vec!["-D".into(), self.data_dir().display().to_string()];
        let mut settings = vec![
            "listen_addresses=127.0.0.1".to_string(),
            format!("port={}", self.port),
            format!("unix_socket_directories={}", self.base.display()),
            "max_connections=300".into(),
            "shared_buffers=64MB".into(),
        ];
        if !durable {
            // Test data is worthless after the run; skipping flushes makes CREATE DATABASE and
            // commits several times faster.
            settings.extend(
                [
                    "fsync=off",
                    "synchronous_commit=off",
                    "full_page_writes=off",
                ]
                .map(String::from),
            );
        }
        for s in settings {
            args.push("-c".into());
            args.push(s);
        }
        self.process = Some(process::spawn(Spec {
            program: &pg_bin("postgres")?,
            args,
            log: &self.log_path(),
            stop_signal: "INT", // fast shutdown: roll back sessions, checkpoint, exit
            cleanup_dir: cleanup,
            run_as,
            current_dir: &self.base,
        })?);
        self.wait_ready()
    }

    /// Waits for the postmaster to report "ready" in `postmaster.pid`, as `pg_ctl -w` does.
    fn wait_ready(&mut self) -> Result<()> {
        let deadline = Instant::now() + READY_TIMEOUT;
        let pid_file = self.data_dir().join("postmaster.pid");
        loop {
            let process = self.process.as_mut().expect("launched");
            if let Some(status) = process.exit_status() {
                return Err(Error::ExitedEarly {
                    what: "postgres".into(),
                    status: status.to_string(),
                    log: self.log_path(),
                    tail: process::log_tail(&self.log_path(), 20),
                });
            }
            let text = std::fs::read_to_string(&pid_file).unwrap_or_default();
            let lines: Vec<&str> = text.lines().collect();
            let ours = lines.first().map(|l| l.trim()) == Some(&process.pid().to_string());
            if ours && lines.get(7).map(|l| l.trim()) == Some("ready") {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(Error::NotReady {
                    what: "postgres".into(),
                    secs: READY_TIMEOUT.as_secs(),
                    log: self.log_path(),
                    tail: process::log_tail(&self.log_path(), 20),
                });
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Superuser URL of the `postgres` database, e.g. `postgres://postgres@127.0.0.1:5433/postgres`.
    pub fn url(&self) -> String {
        format!("postgres://{SUPERUSER}@127.0.0.1:{}/postgres", self.port)
    }

    /// TCP port on 127.0.0.1.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The cluster's data directory.
    pub fn data_dir(&self) -> PathBuf {
        self.base.join("data")
    }

    /// The server log.
    pub fn log_path(&self) -> PathBuf {
        self.base.join("postgres.log")
    }

    /// Whether the server process is alive.
    pub fn is_running(&mut self) -> bool {
        self.process.as_mut().is_some_and(Supervised::is_running)
    }

    /// Fast shutdown; waits until the server has exited (SIGKILL after 30 s).
    pub fn stop(mut self) {
        self.shutdown();
    }

    /// Fast shutdown, as `pg_ctl stop` does (sessions are told "terminating connection due to
    /// administrator command", new ones refused), keeping the data and the port for
    /// [`Self::start_again`]: a database outage for tests. Blocks until the server has exited.
    pub fn stop_in_place(&mut self) {
        self.shutdown();
    }

    /// Starts the server again after [`Self::stop_in_place`], on the same port with the same
    /// data, and waits until it accepts connections. Blocks (about a second).
    pub fn start_again(&mut self) -> Result<()> {
        self.shutdown();
        let launch = self
            .launched
            .take()
            .expect("launched before it was stopped");
        self.launch(launch.run_as, launch.durable, launch.cleanup.as_deref())
    }

    fn shutdown(&mut self) {
        if let Some(mut process) = self.process.take() {
            process.stop(STOP_TIMEOUT);
        }
    }
}

/// The settings a cluster was launched with.
struct Launch {
    run_as: Option<(u32, u32)>,
    durable: bool,
    cleanup: Option<PathBuf>,
}

impl Drop for PgCluster {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// A PostgreSQL server program; an error (not a panic) when missing, since xtask calls this.
fn pg_bin(name: &str) -> Result<PathBuf> {
    let dir = find_pg_bin_dir().ok_or_else(|| Error::ToolMissing {
        what: "PostgreSQL server binaries",
        hint: format!("set {PG_BIN_DIR_ENV} or {INSTALL_HINT}"),
    })?;
    Ok(dir.join(name))
}

/// The (uid, gid) to run PostgreSQL as: `postgres` when we are root, ourselves otherwise.
fn run_as() -> Result<Option<(u32, u32)>> {
    if !crate::discover::is_root() {
        return Ok(None);
    }
    process::lookup_user(UNPRIVILEGED_USER)
        .map(Some)
        .ok_or_else(|| Error::NoUnprivilegedUser(UNPRIVILEGED_USER.into()))
}

fn initdb(base: &Path, data: &Path, run_as: Option<(u32, u32)>, durable: bool) -> Result<()> {
    let bin = pg_bin("initdb")?;
    let mut cmd = Command::new(&bin);
    cmd.arg("-D")
        .arg(data)
        .args(["-U", SUPERUSER, "--auth=trust", "-E", "UTF8", "--locale=C"])
        // initdb fails if it cannot read its working directory, e.g. root's home.
        .current_dir(base);
    if !durable {
        cmd.arg("--no-sync");
    }
    if let Some((uid, gid)) = run_as {
        use std::os::unix::process::CommandExt;
        cmd.uid(uid).gid(gid);
    }
    let out = cmd
        .output()
        .map_err(|e| Error::io(format!("running {}", bin.display()), e))?;
    if !out.status.success() {
        return Err(Error::CommandFailed {
            program: bin.display().to_string(),
            status: out.status.to_string(),
            output: format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ),
        });
    }
    Ok(())
}
