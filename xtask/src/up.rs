//! `cargo xtask up`: runs the whole system on this machine for a demo or for development.
//!
//! Starts the development identity provider (`dev-idp`, ES256 tokens for the demo users; every
//! service validates tokens against its JWKS exactly as it would a real provider's),
//! nats-server (JetStream, data under `.run/nats`) and a throwaway PostgreSQL cluster
//! (`.run/pg`, wiped on every start), one database per service, builds and starts every
//! service binary, loads the demo catalog, starts the web app's Vite dev server (which proxies
//! the APIs and the hub on one origin), and prints the URLs and demo tokens. Ctrl-C stops
//! everything in reverse order.

use std::fs;
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use orderflow_test_support::PgCluster;

use crate::process::{repo_root, run_checked, step};
use crate::tools;

/// Options of `cargo xtask up`.
#[derive(clap::Args)]
pub struct UpArgs {
    /// Build the services in release mode.
    #[arg(long)]
    release: bool,
    /// Run the binaries already in the target directory instead of building them (the test
    /// run's browser suite does: `cargo test --workspace` built them with other features, and
    /// building again would recompile most dependencies for nothing).
    #[arg(long, conflicts_with = "release")]
    prebuilt: bool,
}

const NATS_PORT: u16 = 4222;
const PG_PORT: u16 = 5433;
const DEV_IDP_PORT: u16 = 8090;
const WEB_PORT: u16 = 5173;
/// `iss` and `aud` of the dev identity provider's tokens (its defaults), which every service
/// is configured to require.
const DEV_IDP_ISSUER: &str = "http://127.0.0.1:8090";
const DEV_IDP_AUDIENCE: &str = "orderflow";

/// A service binary, its port and its database.
struct Service {
    name: &'static str,
    binary: &'static str,
    port: u16,
    env_prefix: &'static str,
    database: Option<&'static str>,
}

const SERVICES: &[Service] = &[
    Service {
        name: "orders",
        binary: "orders",
        port: 8081,
        env_prefix: "ORDERS",
        database: Some("orders"),
    },
    Service {
        name: "inventory",
        binary: "inventory",
        port: 8082,
        env_prefix: "INVENTORY",
        database: Some("inventory"),
    },
    Service {
        name: "gateway",
        binary: "gateway",
        port: 8080,
        env_prefix: "GATEWAY",
        database: None,
    },
];

/// Runs until Ctrl-C.
pub fn run(args: UpArgs) -> anyhow::Result<()> {
    let root = repo_root();
    let run_dir = root.join(".run");
    let tools = tools::ensure()?;
    let web_dir = root.join("web");
    let with_web = web_dir.join("package.json").exists();
    for port in [NATS_PORT, PG_PORT, DEV_IDP_PORT, WEB_PORT]
        .into_iter()
        .chain(SERVICES.iter().map(|s| s.port))
    {
        if TcpStream::connect(("127.0.0.1", port)).is_ok() {
            bail!(
                "port {port} is already in use; stop whatever listens there (an earlier `cargo xtask up`?)"
            );
        }
    }

    let services: Vec<&Service> = SERVICES
        .iter()
        .filter(|s| {
            root.join("services")
                .join(s.name)
                .join("Cargo.toml")
                .exists()
        })
        .collect();
    let profile = if args.release { "release" } else { "debug" };
    if args.prebuilt {
        for bin in services.iter().map(|s| s.binary).chain(["dev-idp"]) {
            let path = target_dir(&root).join(profile).join(bin);
            if !path.exists() {
                bail!("--prebuilt: {} is missing; build it first", path.display());
            }
        }
    } else {
        step("Building the services");
        let mut build = Command::new("cargo");
        build
            .current_dir(&root)
            .arg("build")
            .args(["--bin", "dev-idp"])
            .args(services.iter().flat_map(|s| ["--bin", s.binary]));
        if args.release {
            build.arg("--release");
        }
        run_checked(&mut build)?;
    }
    // Stopped in reverse order when dropped, also when start-up fails half-way.
    let mut children = Children(Vec::new());

    step("Starting the dev identity provider (development only)");
    let idp = Command::new(target_dir(&root).join(profile).join("dev-idp"))
        .env("DEV_IDP_ENABLED", "true")
        .env("DEV_IDP_LISTEN", format!("127.0.0.1:{DEV_IDP_PORT}"))
        .env("DEV_IDP_ISSUER", DEV_IDP_ISSUER)
        .env("DEV_IDP_AUDIENCE", DEV_IDP_AUDIENCE)
        .stdout(log_file(&run_dir, "dev-idp")?)
        .stderr(log_file(&run_dir, "dev-idp.err")?)
        .spawn()
        .context("starting dev-idp")?;
    children.0.push(("dev-idp".into(), idp));
    wait_ready("dev-idp", DEV_IDP_PORT)?;

    step("Starting nats-server and PostgreSQL");
    let _ = fs::remove_dir_all(run_dir.join("pg"));
    fs::create_dir_all(run_dir.join("nats"))?;
    let nats = Command::new(&tools.nats_server)
        .args([
            "-js",
            "-a",
            "127.0.0.1",
            "-p",
            &NATS_PORT.to_string(),
            "-sd",
        ])
        .arg(run_dir.join("nats"))
        .stdout(log_file(&run_dir, "nats")?)
        .stderr(log_file(&run_dir, "nats.err")?)
        .spawn()
        .context("starting nats-server")?;
    children.0.push(("nats-server".into(), nats));
    let pg = PgCluster::start_in(&run_dir.join("pg"), Some(PG_PORT))?;
    let pg_url = pg.url();
    let base = pg_url
        .rsplit_once('/')
        .map(|(b, _)| b.to_owned())
        .unwrap_or(pg_url.clone());
    for db in services.iter().filter_map(|s| s.database) {
        run_checked(
            Command::new(tools.pg_bin_dir.join("psql"))
                .args([&pg_url, "-q", "-c", &format!("CREATE DATABASE {db}")])
                .stdout(Stdio::null()),
        )?;
    }

    step("Starting the services");
    for service in &services {
        let mut command = Command::new(target_dir(&root).join(profile).join(service.binary));
        command
            .env(
                format!("{}_LISTEN", service.env_prefix),
                format!("127.0.0.1:{}", service.port),
            )
            .env(
                "ORDERFLOW_NATS_URL",
                format!("nats://127.0.0.1:{NATS_PORT}"),
            )
            .env("ORDERFLOW_JWT_ISSUER", DEV_IDP_ISSUER)
            .env("ORDERFLOW_JWT_AUDIENCE", DEV_IDP_AUDIENCE)
            .env(
                "ORDERFLOW_JWT_JWKS_URL",
                format!("http://127.0.0.1:{DEV_IDP_PORT}/.well-known/jwks.json"),
            )
            // Exactly one key source: a secret inherited from the shell would be a second one.
            .env_remove("ORDERFLOW_JWT_HS256_SECRET")
            .env(
                "GATEWAY_ALLOWED_ORIGINS",
                "http://127.0.0.1:5173,http://localhost:5173",
            )
            .stdout(log_file(&run_dir, service.name)?)
            .stderr(log_file(&run_dir, &format!("{}.err", service.name))?);
        if let Some(db) = service.database {
            command.env(
                format!("{}_DATABASE_URL", service.env_prefix),
                format!("{base}/{db}"),
            );
        }
        children.0.push((
            service.name.to_owned(),
            command
                .spawn()
                .with_context(|| format!("starting {}", service.name))?,
        ));
    }
    for service in &services {
        wait_ready(service.name, service.port)?;
    }

    step("Loading demo data");
    crate::demo::load(&services.iter().map(|s| s.name).collect::<Vec<_>>())?;

    if with_web {
        step("Starting the web app (Vite dev server)");
        children
            .0
            .push(("web".into(), start_web(&web_dir, &run_dir)?));
        wait_web()?;
    }

    print_banner(&services, with_web)?;
    let stop = Arc::new(AtomicBool::new(false));
    let flag = Arc::clone(&stop);
    ctrlc_flag(flag)?;
    while !stop.load(Ordering::SeqCst) {
        for (name, child) in &mut children.0 {
            if let Ok(Some(status)) = child.try_wait() {
                eprintln!("{name} exited with {status}; see .run/{name}.err. Stopping everything.");
                stop.store(true, Ordering::SeqCst);
            }
        }
        std::thread::sleep(Duration::from_millis(300));
    }
    step("Stopping");
    drop(children);
    drop(pg);
    Ok(())
}

/// Installs the web app's dependencies when missing and starts Vite directly (not through npm,
/// so that stopping this one process stops the server).
fn start_web(web_dir: &Path, run_dir: &Path) -> anyhow::Result<Child> {
    if !web_dir.join("node_modules").exists() {
        run_checked(Command::new("npm").current_dir(web_dir).args([
            "ci",
            "--no-audit",
            "--no-fund",
        ]))?;
    }
    Command::new("node")
        .current_dir(web_dir)
        .args([
            "node_modules/vite/bin/vite.js",
            "--host",
            "127.0.0.1",
            "--port",
            &WEB_PORT.to_string(),
            "--strictPort",
        ])
        .stdin(Stdio::null())
        .stdout(log_file(run_dir, "web")?)
        .stderr(log_file(run_dir, "web.err")?)
        .spawn()
        .context("starting the Vite dev server (is Node.js installed?)")
}

fn wait_web() -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        if reqwest::blocking::get(format!("http://127.0.0.1:{WEB_PORT}/"))
            .is_ok_and(|r| r.status().is_success())
        {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(250));
    }
    bail!("the web app did not start on port {WEB_PORT}; see .run/web.err.log")
}

/// The started processes; dropping stops them, last started first.
struct Children(Vec<(String, Child)>);

impl Drop for Children {
    fn drop(&mut self) {
        for (name, mut child) in self.0.drain(..).rev() {
            terminate(&mut child);
            println!("stopped {name}");
        }
    }
}

fn log_file(dir: &Path, name: &str) -> anyhow::Result<fs::File> {
    fs::create_dir_all(dir)?;
    Ok(fs::File::create(dir.join(format!("{name}.log")))?)
}

fn wait_ready(name: &str, port: u16) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        let ok = reqwest::blocking::get(format!("http://127.0.0.1:{port}/readyz"))
            .map(|r| r.status().is_success())
            .unwrap_or(false);
        if ok {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(250));
    }
    bail!("{name} did not become ready on port {port}; see .run/{name}.err.log")
}

/// Sends SIGTERM so the child drains, then waits up to 10 s before killing it.
fn terminate(child: &mut Child) {
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let _ = child.kill();
    let _ = child.wait();
}

fn ctrlc_flag(flag: Arc<AtomicBool>) -> anyhow::Result<()> {
    ctrlc::set_handler(move || flag.store(true, Ordering::SeqCst))
        .context("installing the Ctrl-C handler")
}

fn print_banner(services: &[&Service], with_web: bool) -> anyhow::Result<()> {
    println!("\nOrderFlow is running. Press Ctrl-C to stop everything.\n");
    if with_web {
        println!("  {:<10} http://127.0.0.1:{WEB_PORT}", "web");
    }
    for s in services {
        println!("  {:<10} http://127.0.0.1:{}", s.name, s.port);
    }
    println!(
        "  {:<10} http://127.0.0.1:{DEV_IDP_PORT} (development only)",
        "dev-idp"
    );
    println!("  {:<10} nats://127.0.0.1:{NATS_PORT}", "nats");
    println!(
        "\nDemo tokens from dev-idp (valid 12 h; more: POST {}/dev-idp/token {{\"userId\": …}}):",
        crate::demo::DEV_IDP_URL
    );
    for (label, user) in crate::demo::USERS {
        println!("  {label:<22} {}", crate::demo::token(user)?);
    }
    println!("\nTry: curl -H \"Authorization: Bearer $TOKEN\" http://127.0.0.1:8081/api/orders");
    println!("Logs are in .run/*.log");
    println!("\nOrderFlow is ready.");
    Ok(())
}

/// Where cargo puts binaries: `CARGO_TARGET_DIR` when set, else `target/` in the repository.
fn target_dir(root: &Path) -> std::path::PathBuf {
    std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| root.join("target"), Into::into)
}
