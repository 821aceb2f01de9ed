//! The gateway under test as a child process (the built `gateway` binary), so that its resident
//! memory and CPU time can be read from `/proc/<pid>` without the load generator's own share.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::error::Error;

/// A running gateway process; dropping it kills the process.
pub struct GatewayProcess {
    child: Child,
    pub log: PathBuf,
}

/// The `gateway` binary next to this executable (both are built into the same profile directory).
pub fn default_binary() -> Result<PathBuf, Error> {
    let exe = std::env::current_exe()?;
    let dir = exe
        .parent()
        .ok_or_else(|| Error::Gateway("executable has no directory".into()))?;
    Ok(dir.join("gateway"))
}

impl GatewayProcess {
    /// Starts `bin` on `addr` against `nats_url`, with per-user caps raised for the benchmark, and
    /// waits until `/readyz` answers 200.
    pub async fn start(
        bin: &Path,
        addr: SocketAddr,
        nats_url: &str,
        connections_per_user: usize,
        log: PathBuf,
    ) -> Result<GatewayProcess, Error> {
        if !bin.exists() {
            return Err(Error::Gateway(format!(
                "{} not found; build it first: cargo build --release -p orderflow-gateway --bin gateway",
                bin.display()
            )));
        }
        let out = std::fs::File::create(&log)?;
        let child = Command::new(bin)
            .env("GATEWAY_LISTEN", addr.to_string())
            .env("ORDERFLOW_NATS_URL", nats_url)
            .env("ORDERFLOW_JWT_ISSUER", orderflow_auth::dev::ISSUER)
            .env("ORDERFLOW_JWT_AUDIENCE", orderflow_auth::dev::AUDIENCE)
            .env("ORDERFLOW_JWT_HS256_SECRET", orderflow_auth::dev::SECRET)
            .env(
                "GATEWAY_MAX_CONNECTIONS_PER_USER",
                connections_per_user.max(16).to_string(),
            )
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(out.try_clone()?)
            .stderr(out)
            .spawn()
            .map_err(|e| Error::Gateway(format!("spawning {}: {e}", bin.display())))?;
        let mut gateway = GatewayProcess { child, log };
        let http = reqwest::Client::new();
        for _ in 0..200 {
            if let Ok(Some(status)) = gateway.child.try_wait() {
                return Err(Error::Gateway(format!(
                    "exited with {status}; log: {}",
                    gateway.log.display()
                )));
            }
            let ready = http
                .get(format!("http://{addr}/readyz"))
                .send()
                .await
                .is_ok_and(|r| r.status().is_success());
            if ready {
                return Ok(gateway);
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Err(Error::Gateway(format!(
            "not ready after 10 s; log: {}",
            gateway.log.display()
        )))
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Resident set size in KiB (`VmRSS` of `/proc/<pid>/status`).
    pub fn rss_kib(&self) -> Result<u64, Error> {
        let pid = self.pid();
        let err = |reason: String| Error::Proc {
            pid,
            file: "status",
            reason,
        };
        let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
            .map_err(|e| err(e.to_string()))?;
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .ok_or_else(|| err("no VmRSS line".into()))
    }

    /// User plus system CPU time in seconds (`utime + stime` of `/proc/<pid>/stat`).
    pub fn cpu_seconds(&self) -> Result<f64, Error> {
        let pid = self.pid();
        let err = |reason: String| Error::Proc {
            pid,
            file: "stat",
            reason,
        };
        let stat =
            std::fs::read_to_string(format!("/proc/{pid}/stat")).map_err(|e| err(e.to_string()))?;
        // The command name (field 2) may contain spaces; fields after its closing parenthesis
        // start at field 3, so utime (14) and stime (15) are at indices 11 and 12.
        let rest = stat
            .rsplit_once(')')
            .map(|(_, r)| r)
            .ok_or_else(|| err("malformed".into()))?;
        let fields: Vec<&str> = rest.split_whitespace().collect();
        let ticks = |i: usize| -> Result<u64, Error> {
            fields
                .get(i)
                .and_then(|f| f.parse().ok())
                .ok_or_else(|| err(format!("field {i} missing")))
        };
        // USER_HZ is 100 on every Linux configuration that exposes /proc to user space.
        Ok((ticks(11)? + ticks(12)?) as f64 / 100.0)
    }
}

impl Drop for GatewayProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
