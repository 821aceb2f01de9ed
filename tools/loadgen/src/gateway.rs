//! The gateway under test as a child process (the built `gateway` binary), so that its resident
//! memory and CPU time can be read from `/proc/<pid>` without the load generator's own share.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, SystemTime};

use crate::child::ServerChild;
use crate::error::Error;
use crate::histogram::{Buckets, GATEWAY_DELIVERY_LATENCY};
use crate::procfs;

/// The connection-token secret the benchmark gateway signs negotiate tokens with (the gateway
/// requires 32 bytes or more; a benchmark needs no secrecy).
const CONNECTION_TOKEN_SECRET: &str = "orderflow-loadgen-connection-token-secret-0001";

/// A running gateway process; dropping it kills the process.
pub struct GatewayProcess {
    child: ServerChild,
    addr: SocketAddr,
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

/// The `gateway` a test of this package runs: `ORDERFLOW_GATEWAY_BIN`, else the one cargo
/// built into the test's own profile directory (`target/<profile>/gateway`, the parent of
/// `deps/`). A test can name only its own package's binaries, and `cargo test --workspace`
/// builds every binary of the workspace before it runs any test, so there it is current.
/// Panics, saying how to build it, when it is missing or older than its sources.
pub fn test_binary() -> PathBuf {
    if let Some(path) = std::env::var_os("ORDERFLOW_GATEWAY_BIN") {
        return path.into();
    }
    let exe = std::env::current_exe().expect("the test's own path");
    let profile_dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("tests run from target/<profile>/deps");
    let bin = profile_dir.join("gateway");
    assert!(
        bin.is_file(),
        "{} is missing; build it: cargo build -p orderflow-gateway",
        bin.display()
    );
    let stale = newer_sources(&bin);
    assert!(
        stale.is_empty(),
        "{} is older than its source {} (and {} more); rebuild it: cargo build -p orderflow-gateway",
        bin.display(),
        stale[0].display(),
        stale.len() - 1
    );
    bin
}

/// Source files newer than the binary `bin`, per the dependency list cargo writes next to it
/// (`<bin>.d`): a non-empty answer means the binary does not contain the current code. Empty
/// when there is no such list (a binary not built by cargo is taken as it is).
pub fn newer_sources(bin: &Path) -> Vec<PathBuf> {
    let modified = |p: &Path| std::fs::metadata(p).and_then(|m| m.modified()).ok();
    let Some(built) = modified(bin) else {
        return Vec::new();
    };
    let Ok(deps) = std::fs::read_to_string(bin.with_extension("d")) else {
        return Vec::new();
    };
    // `target: dep dep ...`, spaces inside paths escaped as `\ `.
    let Some((_, list)) = deps.lines().next().and_then(|l| l.split_once(": ")) else {
        return Vec::new();
    };
    let list = list.replace("\\ ", "\u{0}");
    list.split_whitespace()
        .map(|p| PathBuf::from(p.replace('\u{0}', " ")))
        .filter(|p| modified(p).is_none_or(|m: SystemTime| m > built))
        .collect()
}

/// How to launch the gateway beyond the defaults: under another program (valgrind), with more
/// settings, given longer to become ready.
#[derive(Clone, Debug)]
pub struct Launch {
    /// Program and arguments the gateway runs under (empty: run it directly).
    pub wrapper: Vec<String>,
    /// Extra environment variables.
    pub env: Vec<(String, String)>,
    /// How long `/readyz` may take to answer 200.
    pub ready_within: Duration,
}

impl Default for Launch {
    fn default() -> Self {
        Launch {
            wrapper: Vec::new(),
            env: Vec::new(),
            ready_within: Duration::from_secs(10),
        }
    }
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
        Self::launch(
            bin,
            addr,
            nats_url,
            connections_per_user,
            log,
            &Launch::default(),
        )
        .await
    }

    /// [`Self::start`] with the choices of `how`.
    pub async fn launch(
        bin: &Path,
        addr: SocketAddr,
        nats_url: &str,
        connections_per_user: usize,
        log: PathBuf,
        how: &Launch,
    ) -> Result<GatewayProcess, Error> {
        if !bin.exists() {
            return Err(Error::Gateway(format!(
                "{} not found; build it first: cargo build --release -p orderflow-gateway --bin gateway",
                bin.display()
            )));
        }
        let out = std::fs::File::create(&log)?;
        let mut command = match how.wrapper.split_first() {
            Some((program, args)) => {
                let mut c = Command::new(program);
                c.args(args).arg(bin);
                c
            }
            None => Command::new(bin),
        };
        // The benchmarks open as many connections as this process's descriptor limit allows
        // (the gateway inherits it). By default the gateway keeps a tenth of its limit for
        // itself and lets a quarter of the rest be unauthenticated (`orderflow_runtime::limits`),
        // which would refuse the last clients of a 19,000-connection run and evict waiting ones
        // in a 10,000-client reconnect storm; here the gateway needs only a few descriptors of
        // its own. `how.env` may still set other caps.
        let caps = rustix::process::getrlimit(rustix::process::Resource::Nofile)
            .current
            .map_or(u64::MAX, |n| n.saturating_sub(128))
            .to_string();
        let child = command
            .env("ORDERFLOW_MAX_CONNECTIONS", &caps)
            .env("ORDERFLOW_MAX_UNAUTHENTICATED", &caps)
            .envs(how.env.iter().map(|(k, v)| (k, v)))
            .env("GATEWAY_LISTEN", addr.to_string())
            .env("ORDERFLOW_NATS_URL", nats_url)
            .env("ORDERFLOW_JWT_ISSUER", orderflow_auth::dev::ISSUER)
            .env("ORDERFLOW_JWT_AUDIENCE", orderflow_auth::dev::AUDIENCE)
            .env("ORDERFLOW_JWT_HS256_SECRET", orderflow_auth::dev::SECRET)
            .env("GATEWAY_CONNECTION_TOKEN_SECRET", CONNECTION_TOKEN_SECRET)
            .env(
                "GATEWAY_MAX_CONNECTIONS_PER_USER",
                connections_per_user.max(16).to_string(),
            )
            // Every simulated client comes from 127.0.0.1: the per-address limits meant for
            // hostile clients would refuse a 10,000-client reconnect storm (docs/hostile-clients.md).
            .env("ORDERFLOW_MAX_UNAUTHENTICATED_PER_SOURCE", "1000000")
            .env("GATEWAY_NEGOTIATE_RATE_PER_SOURCE", "1000000")
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(out.try_clone()?)
            .stderr(out)
            .spawn()
            .map_err(|e| Error::Gateway(format!("spawning {}: {e}", bin.display())))?;
        let mut gateway = GatewayProcess {
            child: ServerChild::new(child),
            addr,
            log,
        };
        let http = orderflow_runtime::http::client();
        let deadline = std::time::Instant::now() + how.ready_within;
        while std::time::Instant::now() < deadline {
            if let Some(status) = gateway.child.exited() {
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
            "not ready after {} s; log: {}",
            how.ready_within.as_secs(),
            gateway.log.display()
        )))
    }

    /// Where it listens.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Its delivery-latency histogram as of now, from its `/metrics`.
    pub async fn delivery_latency(&self) -> Result<Buckets, Error> {
        let url = format!("http://{}/metrics", self.addr);
        let read = async {
            orderflow_runtime::http::client()
                .get(&url)
                .send()
                .await?
                .error_for_status()?
                .text()
                .await
        };
        let text = read
            .await
            .map_err(|e| Error::Gateway(format!("reading {url}: {e}")))?;
        Ok(Buckets::parse(&text, GATEWAY_DELIVERY_LATENCY))
    }

    /// Resident set size in KiB.
    pub fn rss_kib(&self) -> Result<u64, Error> {
        procfs::rss_kib(self.pid())
    }

    /// User plus system CPU time in seconds.
    pub fn cpu_seconds(&self) -> Result<f64, Error> {
        procfs::cpu_seconds(self.pid())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sources_newer_than_the_binary_are_found_through_its_dep_info() {
        let dir = std::env::temp_dir().join(format!("loadgen-newer-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let old = dir.join("old file.rs");
        std::fs::write(&old, "").unwrap();
        std::thread::sleep(Duration::from_millis(20));
        let bin = dir.join("gateway");
        std::fs::write(&bin, "").unwrap();
        std::thread::sleep(Duration::from_millis(20));
        let new = dir.join("new.rs");
        std::fs::write(&new, "").unwrap();
        let escaped = old.display().to_string().replace(' ', "\\ ");
        std::fs::write(
            bin.with_extension("d"),
            format!("{}: {escaped} {}\n", bin.display(), new.display()),
        )
        .unwrap();
        assert_eq!(newer_sources(&bin), vec![new]);
        assert!(newer_sources(&dir.join("missing")).is_empty());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
