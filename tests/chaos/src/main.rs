//! `chaos`: runs rounds of the chaos scenarios and prints one table row per round and a
//! summary; exits non-zero if any round lost, duplicated or reordered an update, answered a
//! resume with `reload`, saw a client error, or could not run to the end.
//!
//! Normally started by `cargo xtask chaos`, which builds the release binaries first.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::Parser;
use orderflow_chaos::binaries::Binaries;
use orderflow_chaos::clients::{self, ResumeMode};
use orderflow_chaos::report::{self, RoundResult};
use orderflow_chaos::scenario::Scenario;
use orderflow_chaos::{clock, round};

/// One round may take this long before it is abandoned (every wait inside is bounded too).
const ROUND_TIMEOUT: Duration = Duration::from_secs(300);

#[derive(Parser)]
#[command(
    name = "chaos",
    about = "OrderFlow chaos suite: faults under load, counted per client"
)]
struct Args {
    /// Scenarios to run (comma separated or repeated).
    #[arg(long, value_enum, value_delimiter = ',', default_value = "all")]
    scenario: Vec<Scenario>,
    /// Rounds of each scenario (each on a fresh system).
    #[arg(long, default_value_t = 1)]
    rounds: usize,
    /// How the clients resume: `url` (the gateway contract) or `invoke` (older gateways).
    #[arg(long, value_enum, default_value = "url")]
    resume_mode: ResumeMode,
    /// Keep service and client logs here (default: a temporary directory kept only when a
    /// round fails).
    #[arg(long)]
    logs: Option<PathBuf>,
}

#[tokio::main]
async fn main() -> anyhow::Result<ExitCode> {
    let args = Args::parse();
    clock();
    clients::npm_ci()?;
    let bins = Binaries::locate()?;
    let temp = tempfile::Builder::new()
        .prefix("orderflow-chaos-")
        .tempdir()?;
    let logs = args
        .logs
        .clone()
        .unwrap_or_else(|| temp.path().to_path_buf());
    let mut scenarios: Vec<Scenario> = args.scenario.iter().flat_map(|s| s.expand()).collect();
    scenarios.dedup();

    println!("{}", report::header());
    let mut results = Vec::new();
    for scenario in scenarios {
        for round in 1..=args.rounds {
            let dir = logs.join(format!("{scenario}-{round}"));
            let started = Instant::now();
            let task = tokio::spawn({
                let bins = bins.clone();
                let mode = args.resume_mode;
                async move { round::run(scenario, round, &bins, mode, &dir).await }
            });
            let abort = task.abort_handle();
            let result = match tokio::time::timeout(ROUND_TIMEOUT, task).await {
                Ok(Ok(Ok(result))) => result,
                Ok(Ok(Err(e))) => {
                    RoundResult::failed(scenario, round, started.elapsed(), format!("{e:#}"))
                }
                Ok(Err(panic)) => RoundResult::failed(
                    scenario,
                    round,
                    started.elapsed(),
                    format!("panicked: {panic}"),
                ),
                Err(_) => {
                    // Dropping the round's task kills its processes.
                    abort.abort();
                    RoundResult::failed(
                        scenario,
                        round,
                        started.elapsed(),
                        format!("did not finish within {ROUND_TIMEOUT:?}"),
                    )
                }
            };
            println!("{}", report::row(&result));
            println!("{}", report::http_line(&result));
            if !result.passed() {
                for note in result.error.iter().chain(result.notes.iter().take(12)) {
                    println!("    {note}");
                }
            }
            results.push(result);
        }
    }
    println!();
    for line in report::summary(&results) {
        println!("{line}");
    }
    let failed = results.iter().filter(|r| !r.passed()).count();
    if failed == 0 {
        println!("all {} rounds passed", results.len());
        return Ok(ExitCode::SUCCESS);
    }
    if args.logs.is_none() {
        let kept = temp.keep();
        println!(
            "{failed} of {} rounds failed; logs kept in {}",
            results.len(),
            kept.display()
        );
    } else {
        println!(
            "{failed} of {} rounds failed; logs in {}",
            results.len(),
            logs.display()
        );
    }
    Ok(ExitCode::FAILURE)
}
