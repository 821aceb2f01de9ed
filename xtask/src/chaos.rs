//! `cargo xtask chaos [ARGS]`: builds the services and the chaos suite in release mode, then runs
//! `target/release/chaos` (tests/chaos) with ARGS passed through, e.g.
//! `cargo xtask chaos --scenario nats-restart --rounds 10`; `cargo xtask chaos --help` shows the
//! suite's options. Minutes, so not part of `cargo xtask test` (which runs a short smoke round).

use std::path::PathBuf;
use std::process::Command;

use crate::process::{cargo, repo_root, run_checked, step};
use crate::tools;

/// Options of `cargo xtask chaos`: everything goes to the suite.
#[derive(clap::Args)]
#[command(disable_help_flag = true)]
pub struct ChaosArgs {
    /// Arguments for the suite (`--scenario`, `--rounds`, `--resume-mode`, `--logs`, `--help`).
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    args: Vec<String>,
}

/// Builds and runs the suite; fails if any round failed.
pub fn run(args: ChaosArgs) -> anyhow::Result<()> {
    let root = repo_root();
    step("Provisioning tools");
    let tools = tools::ensure()?;

    step("Building the services and the suite (release)");
    run_checked(cargo().current_dir(&root).args([
        "build",
        "--release",
        "-p",
        "orderflow-orders",
        "-p",
        "orderflow-inventory",
        "-p",
        "orderflow-gateway",
        "-p",
        "orderflow-chaos",
    ]))?;

    step("Running the chaos suite");
    // The suite finds the service binaries next to itself, in target/release.
    let target: PathBuf =
        std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| root.join("target"), Into::into);
    run_checked(
        Command::new(target.join("release").join("chaos"))
            .current_dir(&root)
            .args(&args.args)
            .envs(tools::env_vars(&tools)),
    )
}
