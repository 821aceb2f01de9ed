//! `cargo xtask up`: runs the whole system on this machine for a demo or for development.
//!
//! Starts nats-server (JetStream, data under `.run/nats`) and a throwaway PostgreSQL cluster
//! (`.run/pg`, wiped on every start), one database per service, builds and starts every
//! service binary, loads the demo catalog, and prints the URLs and demo tokens. Ctrl-C stops
//! everything in reverse order.

use std::fs;
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use orderflow_auth::dev;
use orderflow_test_support::PgCluster;

use crate::process::{repo_root, run_checked, step};
use crate::tools;

/// Options of `cargo xtask up`.
#[derive(clap::Args)]
pub struct UpArgs {
    /// Build the services in release mode.
    #[arg(long)]
    release: bool,
}

const NATS_PORT: u16 = 4222;
const PG_PORT: u16 = 5433;

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
    for port in [NATS_PORT, PG_PORT]
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
    step("Building the services");
    let mut build = Command::new("cargo");
    build
        .current_dir(&root)
        .arg("build")
        .args(services.iter().flat_map(|s| ["--bin", s.binary]));
    if args.release {
        build.arg("--release");
    }
    run_checked(&mut build)?;

    step("Starting nats-server and PostgreSQL");
    let _ = fs::remove_dir_all(run_dir.join("pg"));
    fs::create_dir_all(run_dir.join("nats"))?;
    let mut children: Vec<(String, Child)> = Vec::new();
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
    children.push(("nats-server".into(), nats));
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
    let profile = if args.release { "release" } else { "debug" };
    for service in &services {
        let mut command = Command::new(root.join("target").join(profile).join(service.binary));
        command
            .env(
                format!("{}_LISTEN", service.env_prefix),
                format!("127.0.0.1:{}", service.port),
            )
            .env(
                "ORDERFLOW_NATS_URL",
                format!("nats://127.0.0.1:{NATS_PORT}"),
            )
            .env("ORDERFLOW_JWT_ISSUER", dev::ISSUER)
            .env("ORDERFLOW_JWT_AUDIENCE", dev::AUDIENCE)
            .env("ORDERFLOW_JWT_HS256_SECRET", dev::SECRET)
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
        children.push((
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

    print_banner(&services);
    let stop = Arc::new(AtomicBool::new(false));
    let flag = Arc::clone(&stop);
    ctrlc_flag(flag)?;
    while !stop.load(Ordering::SeqCst) {
        for (name, child) in &mut children {
            if let Ok(Some(status)) = child.try_wait() {
                eprintln!("{name} exited with {status}; see .run/{name}.err. Stopping everything.");
                stop.store(true, Ordering::SeqCst);
            }
        }
        std::thread::sleep(Duration::from_millis(300));
    }
    step("Stopping");
    for (name, mut child) in children.into_iter().rev() {
        terminate(&mut child);
        println!("stopped {name}");
    }
    drop(pg);
    Ok(())
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

fn print_banner(services: &[&Service]) {
    println!("\nOrderFlow is running. Press Ctrl-C to stop everything.\n");
    for s in services {
        println!("  {:<10} http://127.0.0.1:{}", s.name, s.port);
    }
    println!("  {:<10} nats://127.0.0.1:{NATS_PORT}", "nats");
    println!("\nDemo tokens (valid 12 h; `cargo xtask token --help` makes more):");
    for (label, user) in crate::demo::USERS {
        println!("  {label:<22} {}", crate::demo::token(user));
    }
    println!("\nTry: curl -H \"Authorization: Bearer $TOKEN\" http://127.0.0.1:8081/api/orders");
    println!("Logs are in .run/*.log");
}
