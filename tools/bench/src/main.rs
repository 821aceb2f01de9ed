//! `orderflow-bench`: the benchmarks recorded in `docs/benchmarks.md`.
//!
//! - `orderflow-bench orders`: order transitions over HTTP and commit-to-JetStream latency,
//!   against pgbench (`src/orders.rs`).
//! - `orderflow-bench inventory`: a burst of confirmed orders through inventory
//!   (`src/inventory.rs`).
//! - `orderflow-bench <storm|delivery|instructions> [ARGS]`: the gateway benchmarks of
//!   `tools/loadgen`, run as `orderflow-loadgen <name> ARGS` from this binary's directory.
//!
//! Run through `cargo xtask bench <name>`, which builds this crate, the load tool and the gateway
//! in release first. The benchmarks live here rather than in xtask so that building xtask (the
//! first thing `cargo xtask up` does) does not build what only they need.

mod cpu;
mod inventory;
mod orders;
mod support;

use std::path::PathBuf;
use std::process::Command;

use anyhow::{Context as _, bail};
use clap::Parser;
use orderflow_test_support::discover;

#[derive(Parser)]
#[command(
    name = "orderflow-bench",
    about = "OrderFlow benchmarks (build with --release)"
)]
struct Cli {
    /// What to measure.
    #[arg(value_enum)]
    target: Target,
    /// Passed on to the benchmark (`storm`, `delivery` and `instructions` take them:
    /// `orderflow-loadgen <name> --help`).
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    args: Vec<String>,
}

/// The benchmarks.
#[derive(Clone, Copy, clap::ValueEnum)]
enum Target {
    /// Order transitions over HTTP and commit-to-JetStream latency, against pgbench.
    Orders,
    /// A burst of confirmed orders through inventory: reservations/s and consumer lag.
    Inventory,
    /// Reconnect storm: gateway vs nats-server WebSocket vs a bare WebSocket floor.
    Storm,
    /// Delivery cost: gateway vs nats-server WebSocket vs a bare fan-out floor.
    Delivery,
    /// The gateway's instructions per delivery under callgrind, against its budget.
    Instructions,
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.target {
        Target::Storm => loadgen("storm", &cli.args),
        Target::Delivery => loadgen("delivery", &cli.args),
        Target::Instructions => loadgen("instructions", &cli.args),
        _ if !cli.args.is_empty() => bail!("this benchmark takes no arguments"),
        Target::Orders => orders::run(),
        Target::Inventory => inventory::run(),
    }
}

/// Runs `orderflow-loadgen <benchmark> ARGS` from this binary's directory (the tool then starts
/// the `gateway` next to itself: all three come from the same build).
fn loadgen(benchmark: &str, args: &[String]) -> anyhow::Result<()> {
    let here = std::env::current_exe().context("locating orderflow-bench")?;
    let tool = here
        .parent()
        .context("orderflow-bench has a directory")?
        .join("orderflow-loadgen");
    if !tool.exists() {
        bail!(
            "{} is missing: build it first (`cargo xtask bench {benchmark}` does)",
            tool.display()
        );
    }
    let status = Command::new(&tool)
        .arg(benchmark)
        .args(args)
        .status()
        .with_context(|| format!("starting {}", tool.display()))?;
    if !status.success() {
        bail!("orderflow-loadgen {benchmark} failed with {status}");
    }
    Ok(())
}

/// The directory of the PostgreSQL server binaries (`pgbench` among them), after checking that
/// nats-server is there too; found where the tests find them (`cargo xtask tools` installs
/// both), so a missing tool is a message rather than a panic half-way through a run.
pub fn pg_bin_dir() -> anyhow::Result<PathBuf> {
    discover::find_nats_server().context("nats-server not found: run `cargo xtask tools`")?;
    discover::find_pg_bin_dir().context("PostgreSQL not found: run `cargo xtask tools`")
}

/// Prints a step header so long outputs stay readable.
pub fn step(title: &str) {
    println!("\n==> {title}");
}
