//! `hostile`: the long hostile-client run (issue 25; docs/hostile-clients.md). Starts the real
//! services with a low descriptor limit, attacks each from 127.0.0.2 with slow partial requests
//! for `--seconds`, probes from 127.0.0.1, prints the figures as a Markdown table, and exits
//! non-zero if a probe, a gateway connect or the official client failed, or a slow connection
//! outlived the header deadline.
//!
//! `cargo build --release --workspace && ulimit -n 20000 && target/release/hostile`

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use orderflow_chaos::hostile::{self, HostileConfig};

#[derive(Parser)]
#[command(
    name = "hostile",
    about = "OrderFlow hostile-client run: slow connections past the descriptor limit"
)]
struct Args {
    /// How long the attack lasts, in seconds.
    #[arg(long, default_value_t = 120)]
    seconds: u64,
    /// ORDERFLOW_HTTP_HEADER_TIMEOUT of the services, in seconds (the production default).
    #[arg(long, default_value_t = 10)]
    header_timeout: u64,
    /// RLIMIT_NOFILE of every service.
    #[arg(long, default_value_t = 1024)]
    nofile: u64,
    /// Slow connections the attacker tries to hold per service.
    #[arg(long, default_value_t = 3000)]
    per_service: usize,
    /// Attacker addresses (127.0.0.2 onwards); more than one shows the global caps at work.
    #[arg(long, default_value_t = 1)]
    sources: u8,
    /// Where the service logs go.
    #[arg(long, default_value = "target/hostile-logs")]
    logs: PathBuf,
}

#[tokio::main]
async fn main() -> anyhow::Result<ExitCode> {
    let args = Args::parse();
    let report = hostile::run(&HostileConfig {
        attack: Duration::from_secs(args.seconds),
        header_timeout: Duration::from_secs(args.header_timeout),
        nofile: args.nofile,
        per_service: args.per_service,
        sources: args.sources,
        logs: args.logs,
    })
    .await?;
    println!("{}", report.table());
    let failures = report.failures();
    for f in &failures {
        println!("FAILED: {f}");
    }
    Ok(if failures.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
