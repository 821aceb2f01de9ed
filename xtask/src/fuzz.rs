//! `cargo xtask fuzz [--seconds N] [--target NAME]… [--release] [--sanitizer address]`: builds
//! the cargo-fuzz targets in `fuzz/` with nightly (installing `cargo-fuzz` when missing), runs
//! each for N seconds (default 60) on its committed seed corpus (`fuzz/corpus/<target>`) plus a
//! working corpus kept under `fuzz/target/corpus/<target>` (git-ignored, so runs never grow the
//! committed one), and prints per target the executions, executions per second, corpus size,
//! coverage and crashes, then a summary table. Fails if any target crashed; the crashing input
//! is in `fuzz/artifacts/<target>/`. See docs/fuzzing.md.
//!
//! The default build is unoptimised and without AddressSanitizer, with debug assertions and
//! overflow checks: on two cores it builds in about 3.5 minutes, where cargo-fuzz's default
//! (optimised, ASan) takes about 16, and CI cannot spend that. Every crate of ours forbids
//! `unsafe`, so what fuzzing finds here are panics and broken properties, which need neither.
//! `--release` runs about three times as many inputs per second, for long runs.

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use anyhow::{Context as _, bail};

use crate::process::{repo_root, run_checked, step};

/// Options of `cargo xtask fuzz`.
#[derive(clap::Args)]
pub struct FuzzArgs {
    /// How long each target runs, in seconds.
    #[arg(long, default_value_t = 60)]
    seconds: u64,
    /// Run only this target (repeatable); default: every target in `fuzz/`.
    #[arg(long = "target", value_name = "NAME")]
    targets: Vec<String>,
    /// Build optimised (cargo-fuzz's default): about three times the executions per second,
    /// about three times the build time.
    #[arg(long)]
    release: bool,
    /// Sanitizer to build with: `none`, or `address` (cargo-fuzz's default; only checks the
    /// `unsafe` code of dependencies, and slows the build down).
    #[arg(long, default_value = "none")]
    sanitizer: String,
}

impl FuzzArgs {
    /// The build options `cargo fuzz build` and `cargo fuzz run` both take.
    fn build_options(&self) -> Vec<&str> {
        let profile = if self.release { "--release" } else { "--dev" };
        vec![profile, "--sanitizer", &self.sanitizer]
    }
}

/// What one target's run showed.
struct Outcome {
    target: String,
    executions: Option<u64>,
    execs_per_sec: Option<u64>,
    corpus: Option<u64>,
    coverage: Option<u64>,
    crashes: Vec<PathBuf>,
    succeeded: bool,
}

/// Builds every target, runs each in turn, prints the table; fails if any crashed.
pub fn run(args: FuzzArgs) -> anyhow::Result<()> {
    let root = repo_root();
    let fuzz_dir = root.join("fuzz");
    step("Provisioning nightly and cargo-fuzz");
    ensure_nightly()?;
    ensure_cargo_fuzz()?;

    let all = list_targets(&root)?;
    let targets = if args.targets.is_empty() {
        all
    } else {
        for t in &args.targets {
            if !all.contains(t) {
                bail!("no fuzz target {t:?}; the targets are: {}", all.join(", "));
            }
        }
        args.targets.clone()
    };

    step(&format!(
        "Building the fuzz targets ({}, sanitizer: {})",
        if args.release {
            "optimised"
        } else {
            "unoptimised"
        },
        args.sanitizer
    ));
    let started = Instant::now();
    run_checked(cargo_fuzz(&root).arg("build").args(args.build_options()))?;
    println!("built in {:.0} s", started.elapsed().as_secs_f64());

    let mut outcomes = Vec::new();
    for target in &targets {
        step(&format!("Fuzzing {target} for {} s", args.seconds));
        let outcome = run_target(&root, &fuzz_dir, target, &args)?;
        print_outcome(&outcome);
        outcomes.push(outcome);
    }

    step("Summary");
    print_table(&outcomes, args.seconds);
    let failed: Vec<&str> = outcomes
        .iter()
        .filter(|o| !o.succeeded)
        .map(|o| o.target.as_str())
        .collect();
    if !failed.is_empty() {
        bail!(
            "fuzzing found a crash in: {} (inputs under fuzz/artifacts/; see docs/fuzzing.md)",
            failed.join(", ")
        );
    }
    Ok(())
}

/// `cargo +nightly fuzz` in the repository root, clear of the toolchain settings `cargo xtask`
/// itself runs with.
fn cargo_fuzz(root: &Path) -> Command {
    let mut command = Command::new("cargo");
    crate::process::without_cargo_run_env(&mut command)
        .current_dir(root)
        .args(["+nightly", "fuzz"])
        .env_remove("RUSTUP_TOOLCHAIN")
        .env_remove("RUSTC")
        .env_remove("CARGO");
    command
}

fn ensure_nightly() -> anyhow::Result<()> {
    let output = Command::new("rustup")
        .args(["toolchain", "list"])
        .output()
        .context("running rustup (cargo-fuzz needs a nightly toolchain from rustup)")?;
    if String::from_utf8_lossy(&output.stdout)
        .lines()
        .any(|l| l.starts_with("nightly"))
    {
        return Ok(());
    }
    run_checked(Command::new("rustup").args([
        "toolchain",
        "install",
        "nightly",
        "--profile",
        "minimal",
    ]))
}

fn ensure_cargo_fuzz() -> anyhow::Result<()> {
    let present = Command::new("cargo")
        .args(["fuzz", "--version"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if present {
        return Ok(());
    }
    println!("cargo-fuzz not found: installing it");
    run_checked(Command::new("cargo").args(["install", "--locked", "cargo-fuzz"]))
}

fn list_targets(root: &Path) -> anyhow::Result<Vec<String>> {
    let output = cargo_fuzz(root)
        .arg("list")
        .output()
        .context("running cargo fuzz list")?;
    if !output.status.success() {
        bail!(
            "cargo fuzz list failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    Ok(String::from_utf8_lossy(&output.stdout)
        .split_whitespace()
        .map(str::to_owned)
        .collect())
}

/// Files in `dir` (none if it does not exist).
fn files(dir: &Path) -> BTreeSet<PathBuf> {
    fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .map(|e| e.path())
                .filter(|p| p.is_file())
                .collect()
        })
        .unwrap_or_default()
}

fn run_target(
    root: &Path,
    fuzz_dir: &Path,
    target: &str,
    args: &FuzzArgs,
) -> anyhow::Result<Outcome> {
    let work = fuzz_dir.join("target").join("corpus").join(target);
    let seeds = fuzz_dir.join("corpus").join(target);
    let artifacts = fuzz_dir.join("artifacts").join(target);
    let logs = fuzz_dir.join("target").join("logs");
    for dir in [&work, &artifacts, &logs] {
        fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let log_path = logs.join(format!("{target}.log"));
    let log = fs::File::create(&log_path)?;
    let before = files(&artifacts);
    // New inputs go to the first corpus directory (the working one); the seeds are only read.
    let status = cargo_fuzz(root)
        .args(["run", target])
        .args(args.build_options())
        .arg(&work)
        .arg(&seeds)
        .arg("--")
        .arg(format!("-max_total_time={}", args.seconds))
        .args(["-print_final_stats=1", "-timeout=10"])
        .stdout(log.try_clone()?)
        .stderr(log)
        .status()
        .context("running cargo fuzz run")?;
    let text = fs::read_to_string(&log_path).unwrap_or_default();
    let crashes: Vec<PathBuf> = files(&artifacts).difference(&before).cloned().collect();
    if !status.success() {
        eprintln!("{}", crash_report(&text));
        eprintln!(
            "{target} failed ({status}); full log: {}",
            log_path.display()
        );
    }
    Ok(Outcome {
        target: target.to_owned(),
        executions: stat(&text, "stat::number_of_executed_units:"),
        execs_per_sec: stat(&text, "stat::average_exec_per_sec:"),
        corpus: last_number_after(&text, "corp: "),
        coverage: last_number_after(&text, "cov: "),
        crashes,
        succeeded: status.success(),
    })
}

/// The interesting part of a failed run's log: from the panic or sanitizer report to
/// libFuzzer's "reproduce with" hints, without backtrace frames.
fn crash_report(log: &str) -> String {
    let lines: Vec<&str> = log.lines().collect();
    let start = lines
        .iter()
        .position(|l| l.contains("panicked at") || l.contains("ERROR:"))
        .unwrap_or(lines.len().saturating_sub(40));
    lines[start..]
        .iter()
        .take_while(|l| !l.starts_with("Stack backtrace:"))
        .filter(|l| {
            let t = l.trim_start();
            let frame = t
                .split_once(':')
                .is_some_and(|(n, _)| n.parse::<u32>().is_ok());
            !frame && !t.starts_with("at ")
        })
        .copied()
        .collect::<Vec<_>>()
        .join("\n")
}

/// The value of one of libFuzzer's `-print_final_stats` lines.
fn stat(log: &str, name: &str) -> Option<u64> {
    log.lines()
        .rev()
        .find_map(|l| l.trim().strip_prefix(name))
        .and_then(|v| v.trim().parse().ok())
}

/// The number after the last `key` in libFuzzer's status lines (`cov: 1234`, `corp: 56/7Kb`).
fn last_number_after(log: &str, key: &str) -> Option<u64> {
    let at = log.rfind(key)? + key.len();
    let digits: String = log[at..].chars().take_while(char::is_ascii_digit).collect();
    digits.parse().ok()
}

fn show(n: Option<u64>) -> String {
    n.map_or_else(|| "?".to_owned(), |n| n.to_string())
}

/// What a run measured: executions, executions per second, corpus, coverage and crashes.
fn figures(o: &Outcome) -> [String; 5] {
    [
        show(o.executions),
        show(o.execs_per_sec),
        show(o.corpus),
        show(o.coverage),
        o.crashes.len().to_string(),
    ]
}

fn print_outcome(o: &Outcome) {
    let [executions, per_sec, corpus, coverage, crashes] = figures(o);
    let failed = if o.succeeded { "" } else { " — FAILED" };
    println!(
        "{}: {executions} executions, {per_sec} exec/s, corpus {corpus}, coverage {coverage}, \
         {crashes} crash(es){failed}",
        o.target
    );
    for crash in &o.crashes {
        println!("  crash input: {}", crash.display());
    }
}

fn print_table(outcomes: &[Outcome], seconds: u64) {
    println!(
        "{:<14} {:>7} {:>12} {:>9} {:>8} {:>9} {:>8}  result",
        "target", "seconds", "executions", "exec/s", "corpus", "coverage", "crashes"
    );
    for o in outcomes {
        let [executions, per_sec, corpus, coverage, crashes] = figures(o);
        let result = if o.succeeded { "ok" } else { "FAILED" };
        println!(
            "{:<14} {seconds:>7} {executions:>12} {per_sec:>9} {corpus:>8} {coverage:>9} \
             {crashes:>8}  {result}",
            o.target
        );
    }
}
