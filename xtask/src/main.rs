//! `cargo xtask`: the developer commands of OrderFlow.
//!
//! - `cargo xtask up`: the whole system with demo data on this machine (Ctrl-C stops it).
//! - `cargo xtask test`: installs what the tests need and runs every test in the repository.
//! - `cargo xtask tools`: installs nats-server, PostgreSQL, Chromium and pysignalr if missing.
//! - `cargo xtask bench <orders|inventory|storm|delivery|instructions>`: builds `orderflow-bench`
//!   (`tools/bench`, the benchmarks recorded in `docs/benchmarks.md`), the load tool and the
//!   gateway in release, then runs `orderflow-bench <name> ARGS`. The benchmarks are not part of
//!   xtask, so building xtask does not build what only they need.
//! - `cargo xtask fuzz [--seconds N] [--target NAME]`: the fuzz targets in `fuzz/` (nightly).
//! - `cargo xtask token`: prints a development token.
//! - `cargo xtask codegen [--check]`: regenerates what derives from `proto-schemas/` (the Rust
//!   and TypeScript bindings, the AsyncAPI document), or checks it is fresh.

mod chaos;
mod codegen;
mod demo;
mod fuzz;
mod process;
mod stack;
mod test;
mod token;
mod tools;
mod up;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "xtask", about = "OrderFlow developer commands")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run nats-server, PostgreSQL and every service with demo data; Ctrl-C stops everything.
    Up(up::UpArgs),
    /// Install what the tests need, then run every test (Rust, schema checks, Node, browser).
    Test(test::TestArgs),
    /// Install nats-server, PostgreSQL and pysignalr when missing (Chromium: `test` does).
    Tools,
    /// Build the benchmarks (`tools/bench`) in release and run one (`orderflow-bench --help`).
    Bench {
        /// What to measure.
        #[arg(value_enum)]
        target: BenchTarget,
        /// Passed on to the benchmark (`storm`, `delivery` and `instructions` take them:
        /// `orderflow-loadgen <name> --help`).
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// Kill nats-server, orders and a gateway and partition a gateway under load (release
    /// build, minutes); arguments go to the suite (`cargo xtask chaos --help`).
    Chaos(chaos::ChaosArgs),
    /// Run every cargo-fuzz target in `fuzz/` for N seconds (nightly; see docs/fuzzing.md).
    Fuzz(fuzz::FuzzArgs),
    /// Print a development token signed with the dev HS256 secret.
    Token(token::TokenArgs),
    /// Regenerate the Rust and TypeScript bindings and the AsyncAPI document; with --check
    /// fail if the committed ones are stale.
    Codegen {
        /// Only check, do not write.
        #[arg(long)]
        check: bool,
    },
}

/// The benchmarks.
#[derive(Clone, Copy, clap::ValueEnum)]
enum BenchTarget {
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
    // The blocking reqwest clients of `up` and the demo need rustls's provider installed.
    orderflow_runtime::http::install_crypto_provider();
    match Cli::parse().command {
        Command::Up(args) => up::run(args),
        Command::Test(args) => test::run(args),
        Command::Tools => tools::ensure()
            .and_then(|_| tools::ensure_pysignalr())
            .map(drop),
        Command::Bench { target, args } => bench(target, &args),
        Command::Chaos(args) => chaos::run(args),
        Command::Fuzz(args) => fuzz::run(args),
        Command::Token(args) => token::run(args),
        Command::Codegen { check } => codegen::run(check),
    }
}

/// `cargo xtask bench <name> ARGS`: `orderflow-bench`, the load tool and the gateway in release
/// (the storm, delivery and instructions benchmarks start the gateway next to the tool), then
/// `orderflow-bench <name> ARGS`.
fn bench(target: BenchTarget, args: &[String]) -> anyhow::Result<()> {
    let root = process::repo_root();
    tools::ensure()?;
    process::run_checked(process::cargo().current_dir(&root).args([
        "build",
        "--release",
        "-p",
        "orderflow-bench",
        "-p",
        "orderflow-loadgen",
        "-p",
        "orderflow-gateway",
    ]))?;
    let name = clap::ValueEnum::to_possible_value(&target)
        .expect("every benchmark has a name")
        .get_name()
        .to_owned();
    let target_dir: std::path::PathBuf =
        std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| root.join("target"), Into::into);
    process::run_checked(
        std::process::Command::new(target_dir.join("release").join("orderflow-bench"))
            .current_dir(&root)
            .arg(name)
            .args(args),
    )
}
