//! `cargo xtask`: the developer commands of OrderFlow.
//!
//! - `cargo xtask up`: the whole system with demo data on this machine (Ctrl-C stops it).
//! - `cargo xtask test`: installs what the tests need and runs every test in the repository.
//! - `cargo xtask tools`: installs nats-server, PostgreSQL and Chromium if missing.
//! - `cargo xtask bench <orders|inventory>`: the benchmarks recorded in `docs/benchmarks.md`.
//! - `cargo xtask token`: prints a development token.
//! - `cargo xtask codegen [--check]`: regenerates the event bindings from `proto-schemas/`.

mod bench_inventory;
mod bench_orders;
mod bench_support;
mod codegen;
mod cpu;
mod demo;
mod process;
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
    /// Install nats-server, PostgreSQL and Chromium when missing.
    Tools,
    /// Run a benchmark and print its figures (build with --release for real numbers).
    Bench {
        /// What to measure.
        #[arg(value_enum)]
        target: BenchTarget,
    },
    /// Print a development token signed with the dev HS256 secret.
    Token(token::TokenArgs),
    /// Regenerate the Rust event bindings; with --check fail if the committed ones are stale.
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
}

fn main() -> anyhow::Result<()> {
    match Cli::parse().command {
        Command::Up(args) => up::run(args),
        Command::Test(args) => test::run(args),
        Command::Tools => tools::ensure().map(drop),
        Command::Bench { target } => match target {
            BenchTarget::Orders => bench_orders::run(),
            BenchTarget::Inventory => bench_inventory::run(),
        },
        Command::Token(args) => token::run(args),
        Command::Codegen { check } => codegen::run(check),
    }
}
