//! `cargo xtask test`: provisions the tools, starts one shared PostgreSQL server for the run,
//! and runs every test suite: the schema checks, all Rust tests, and the Node and browser suites
//! when their folders exist. Exits non-zero if any suite failed.

use std::process::Command;

use anyhow::bail;
use orderflow_test_support::PgCluster;
use orderflow_test_support::discover::{CHROMIUM_BIN_ENV, TEST_PG_URL_ENV};

use crate::process::{repo_root, run_checked, step, without_cargo_run_env};
use crate::tools;

/// Options of `cargo xtask test`.
#[derive(clap::Args)]
pub struct TestArgs {
    /// Extra arguments passed to `cargo test` (e.g. `-p orderflow-orders`).
    #[arg(trailing_var_arg = true)]
    cargo_args: Vec<String>,
}

/// Runs every suite and reports which failed.
pub fn run(args: TestArgs) -> anyhow::Result<()> {
    let root = repo_root();
    step("Provisioning tools");
    let tools = tools::ensure()?;
    tools::ensure_valgrind()?;
    let mut env = tools::env_vars(&tools);
    env.push(tools::ensure_pysignalr()?);
    if root.join("web/package.json").exists() {
        let chromium = tools::ensure_chromium()?;
        env.push((CHROMIUM_BIN_ENV.to_owned(), chromium.display().to_string()));
    }

    step("Starting a shared PostgreSQL server for the run");
    let pg = PgCluster::start_temporary()?;
    env.push((TEST_PG_URL_ENV.to_owned(), pg.url()));

    let mut failed = Vec::new();
    let mut suite = |name: &str, command: &mut Command| -> bool {
        step(name);
        // Every suite may start cargo (the web suite through npm and `cargo xtask up`).
        without_cargo_run_env(command)
            .current_dir(&root)
            .envs(env.iter().map(|(k, v)| (k, v)));
        let result = run_checked(command);
        if let Err(e) = &result {
            eprintln!("{name}: {e}");
            failed.push(name.to_owned());
        }
        result.is_ok()
    };

    suite(
        "Event bindings are fresh",
        Command::new("cargo").args(["xtask", "codegen", "--check"]),
    );
    suite(
        "Event schemas stay backward compatible",
        Command::new("bash").arg("scripts/check-schemas.sh"),
    );
    suite(
        "Deploy files are valid",
        Command::new("bash").arg("deploy/validate.sh"),
    );
    // The same command as scripts/check-built-once.sh's test build: the dependencies `up` and
    // the build of xtask compiled are reused here only while the two agree.
    suite(
        "Rust tests",
        Command::new("cargo")
            .args(["test", "--workspace", "--all-targets", "--no-fail-fast"])
            .args(&args.cargo_args),
    );
    // The official SignalR client suite runs inside `cargo test` (services/gateway/tests/
    // gateway/signalr_client.rs launches it against real gateways); the web suite starts the whole
    // system itself through `cargo xtask up`.
    if root.join("web/package.json").exists() {
        suite(
            "Web client tests (Vitest and Chromium end to end)",
            Command::new("bash")
                .arg("-c")
                .arg("cd web && npm ci --no-audit --no-fund && npm test")
                // The Rust suite built every service binary just now.
                .env("ORDERFLOW_E2E_PREBUILT", "1"),
        );
    }
    drop(pg);

    if failed.is_empty() {
        println!("\nAll test suites passed.");
        Ok(())
    } else {
        bail!("failed suites: {}", failed.join(", "))
    }
}
