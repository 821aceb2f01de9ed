//! `cargo xtask up`: runs the whole system on this machine for a demo or for development.
//!
//! Starts the development identity provider (`dev-idp`, ES256 tokens for the demo users; every
//! service validates tokens against its JWKS exactly as it would a real provider's),
//! nats-server (JetStream, data under `.run/nats`) and a throwaway PostgreSQL cluster
//! (`.run/pg`, wiped on every start), one database per service, builds and starts every
//! service binary, loads the demo catalog, starts the web app's Vite dev server (which proxies
//! the APIs and the hub on one origin), writes demo tokens to `.run/demo-tokens.env` (owner
//! only) and prints the URLs. Every step prints a line (cargo's own progress while building, then
//! what is starting and when it is ready). Ctrl-C stops everything in reverse order of start,
//! one line per stop (`crate::stack`).

use std::fs;
use std::io::Write as _;
use std::net::TcpStream;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use orderflow_test_support::PgCluster;

use crate::process::{cargo, repo_root, run_checked, step};
use crate::stack::{Process, Stack};
use crate::tools;

/// Options of `cargo xtask up`.
#[derive(clap::Args)]
pub struct UpArgs {
    /// Build the services in release mode.
    #[arg(long)]
    release: bool,
    /// Run the binaries already in the target directory instead of building them (the test
    /// run's browser suite does: `cargo test --workspace --all-targets` has just built them, and
    /// even a no-op cargo build takes seconds).
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
    let began = Instant::now();
    let root = repo_root();
    let run_dir = root.join(".run");
    step("Checking nats-server and PostgreSQL (installed when missing)");
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
    let binaries: Vec<&str> = services
        .iter()
        .map(|s| s.binary)
        .chain(["dev-idp"])
        .collect();
    let profile = if args.release { "release" } else { "debug" };
    if args.prebuilt {
        for bin in &binaries {
            let path = target_dir(&root).join(profile).join(bin);
            if !path.exists() {
                bail!("--prebuilt: {} is missing; build it first", path.display());
            }
        }
    } else {
        step("Building the services (cargo's progress below; the first build takes minutes)");
        let built = Instant::now();
        run_checked(build_command(&binaries, args.release).current_dir(&root))?;
        println!("built in {}", seconds(built));
    }
    // Stopped in reverse order when dropped, also when start-up fails half-way.
    let mut stack = Stack::new();

    step("Starting");
    let started = starting("dev-idp (development identity provider)");
    let idp = Process::spawn(
        Command::new(target_dir(&root).join(profile).join("dev-idp"))
            .env("DEV_IDP_ENABLED", "true")
            .env("DEV_IDP_LISTEN", format!("127.0.0.1:{DEV_IDP_PORT}"))
            .env("DEV_IDP_ISSUER", DEV_IDP_ISSUER)
            .env("DEV_IDP_AUDIENCE", DEV_IDP_AUDIENCE)
            .stdout(log_file(&run_dir, "dev-idp")?)
            .stderr(log_file(&run_dir, "dev-idp.err")?),
    )
    .context("starting dev-idp")?;
    stack.push("dev-idp", idp);
    wait_ready("dev-idp", DEV_IDP_PORT)?;
    ready(started);

    let started = starting("nats-server");
    fs::create_dir_all(run_dir.join("nats"))?;
    let nats = Process::spawn(
        Command::new(&tools.nats_server)
            .args([
                "-js",
                "-a",
                "127.0.0.1",
                "-p",
                &NATS_PORT.to_string(),
                "-sd",
            ])
            .arg(run_dir.join("nats"))
            .stdout(log_file(&run_dir, "nats-server")?)
            .stderr(log_file(&run_dir, "nats-server.err")?),
    )
    .context("starting nats-server")?;
    stack.push("nats-server", nats);
    wait_port("nats-server", NATS_PORT)?;
    ready(started);

    let started = starting("PostgreSQL (a fresh cluster in .run/pg)");
    let _ = fs::remove_dir_all(run_dir.join("pg"));
    let pg = PgCluster::start_in(&run_dir.join("pg"), Some(PG_PORT))?;
    let pg_url = pg.url();
    stack.push("postgres", pg);
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
    ready(started);

    // All at once (one may wait for what another sets up), then each awaited in turn.
    let services_started = Instant::now();
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
        let process =
            Process::spawn(&mut command).with_context(|| format!("starting {}", service.name))?;
        stack.push(service.name, process);
    }
    for service in &services {
        print!("  {} … ", service.name);
        let _ = std::io::stdout().flush();
        wait_ready(service.name, service.port)?;
        ready(services_started);
    }

    let started = starting("demo catalog");
    let loaded = crate::demo::load(&services.iter().map(|s| s.name).collect::<Vec<_>>())?;
    println!("{loaded} in {}", seconds(started));

    if with_web {
        let started = starting("web app (Vite dev server)");
        stack.push("web", start_web(&web_dir, &run_dir)?);
        wait_web()?;
        ready(started);
    }

    let tokens_path = run_dir.join(TOKEN_FILE);
    let tokens = crate::demo::USERS
        .iter()
        .map(|(_, user)| Ok((user, crate::demo::token(user)?)))
        .collect::<anyhow::Result<Vec<_>>>()?;
    crate::demo::write_token_file(&tokens_path, &tokens)?;

    print_banner(&services, with_web, began);
    let stop = Arc::new(AtomicBool::new(false));
    let flag = Arc::clone(&stop);
    ctrlc_flag(flag)?;
    while !stop.load(Ordering::SeqCst) {
        for (name, process) in stack.processes() {
            if let Some(status) = process.exited() {
                eprintln!(
                    "{name} exited with {status}; see .run/{name}.err.log. Stopping everything."
                );
                stop.store(true, Ordering::SeqCst);
            }
        }
        std::thread::sleep(Duration::from_millis(300));
    }
    step("Stopping, last started first");
    stack.stop_all();
    println!("OrderFlow stopped.");
    Ok(())
}

/// The token file, in `.run/`.
const TOKEN_FILE: &str = "demo-tokens.env";

/// `cargo build` of `binaries` (their output goes to the terminal: cargo's progress shows).
///
/// In debug, the build selects the whole workspace (`--workspace`, building only the named
/// binaries) with `--examples` (there are none to build; asking for them makes cargo resolve
/// dev-dependencies) and xtask's own binary (already built, so free): cargo then resolves every
/// dependency's features exactly as `cargo xtask test`'s `cargo test --workspace --all-targets`
/// does, and the test build reuses every dependency compiled here instead of compiling it again
/// with other features. `scripts/check-built-once.sh` checks that.
fn build_command(binaries: &[&str], release: bool) -> Command {
    let mut build = cargo();
    build.arg("build");
    if release {
        build.arg("--release");
    } else {
        build.args(["--workspace", "--examples", "--bin", "xtask"]);
    }
    build.args(binaries.iter().flat_map(|b| ["--bin", b]));
    build
}

/// Prints "  NAME … " and returns when it began; [`ready`] ends the line.
fn starting(what: &str) -> Instant {
    print!("  {what} … ");
    let _ = std::io::stdout().flush();
    Instant::now()
}

/// Ends a [`starting`] line.
fn ready(since: Instant) {
    println!("ready in {}", seconds(since));
}

fn seconds(since: Instant) -> String {
    format!("{:.1} s", since.elapsed().as_secs_f64())
}

/// Installs the web app's dependencies when missing and starts Vite directly (not through npm,
/// so that stopping this one process stops the server).
fn start_web(web_dir: &Path, run_dir: &Path) -> anyhow::Result<Process> {
    if !web_dir.join("node_modules").exists() {
        run_checked(Command::new("npm").current_dir(web_dir).args([
            "ci",
            "--no-audit",
            "--no-fund",
        ]))?;
    }
    Process::spawn(
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
            .stderr(log_file(run_dir, "web.err")?),
    )
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

/// Waits until something accepts connections on `port` (nats-server has no `/readyz`).
fn wait_port(name: &str, port: u16) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        if TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    bail!("{name} did not listen on port {port}; see .run/{name}.err.log")
}

fn ctrlc_flag(flag: Arc<AtomicBool>) -> anyhow::Result<()> {
    ctrlc::set_handler(move || flag.store(true, Ordering::SeqCst))
        .context("installing the Ctrl-C handler")
}

/// Where to go and what runs where: one line per URL, one for the token file. No tokens: they
/// are credentials, and this output ends up in terminals' scrollback and CI logs.
fn print_banner(services: &[&Service], with_web: bool, began: Instant) {
    println!(
        "\nOrderFlow is running ({} since `cargo xtask up`). Ctrl-C stops everything.\n",
        seconds(began)
    );
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
        "  {:<10} postgres://postgres@127.0.0.1:{PG_PORT}",
        "postgres"
    );
    println!(
        "\nOpen http://127.0.0.1:{WEB_PORT} · demo tokens: .run/{TOKEN_FILE} (`. .run/{TOKEN_FILE}`, then $ALICE_TOKEN) · logs: .run/*.log"
    );
    println!("\nOrderFlow is ready.");
}

/// Where cargo puts binaries: `CARGO_TARGET_DIR` when set, else `target/` in the repository.
fn target_dir(root: &Path) -> std::path::PathBuf {
    std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| root.join("target"), Into::into)
}
