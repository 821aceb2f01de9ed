//! Small helpers for running child processes from xtask commands.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context as _, bail};

/// The repository root (xtask lives one level below it).
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask has a parent")
        .to_path_buf()
}

/// Runs `command` to completion, failing with its description if it exits non-zero.
pub fn run_checked(command: &mut Command) -> anyhow::Result<()> {
    let description = format!("{command:?}");
    let status = command
        .status()
        .with_context(|| format!("starting {description}"))?;
    if !status.success() {
        bail!("{description} failed with {status}");
    }
    Ok(())
}

/// `cargo`, without the variables `cargo run` set for xtask itself ([`without_cargo_run_env`]).
pub fn cargo() -> Command {
    let mut command = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    without_cargo_run_env(&mut command);
    command
}

/// Removes from `command`'s environment what `cargo run` sets for the program it runs: xtask's
/// package name, version and manifest, and its build script's `OUT_DIR`. A cargo started from
/// xtask (directly or through npm, bash or the tests) must not inherit them: build scripts that
/// ask to rerun when one changes (ring's does, for `CARGO_PKG_NAME`, `CARGO_MANIFEST_DIR` and
/// `OUT_DIR`) would see other values than in a plain shell, and cargo would compile them and
/// everything above them (rustls, reqwest, async-nats, the services) again, and again in the
/// next build started from a shell.
pub fn without_cargo_run_env(command: &mut Command) -> &mut Command {
    for (name, _) in std::env::vars_os() {
        let Some(name) = name.to_str() else { continue };
        let set_by_cargo_run = name.starts_with("CARGO_PKG_")
            || matches!(
                name,
                "CARGO_MANIFEST_DIR"
                    | "CARGO_MANIFEST_PATH"
                    | "CARGO_MANIFEST_LINKS"
                    | "CARGO_CRATE_NAME"
                    | "CARGO_BIN_NAME"
                    | "CARGO_PRIMARY_PACKAGE"
                    | "OUT_DIR"
            );
        if set_by_cargo_run {
            command.env_remove(name);
        }
    }
    command
}

/// Prints a step header so long outputs stay readable, with the seconds since the first step:
/// where a long run (CI, the first `up`) spends its time shows in its log.
pub fn step(title: &str) {
    static FIRST: std::sync::OnceLock<std::time::Instant> = std::sync::OnceLock::new();
    let since = FIRST
        .get_or_init(std::time::Instant::now)
        .elapsed()
        .as_secs();
    println!("\n==> [{since} s] {title}");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn children_do_not_see_what_cargo_set_for_xtask() {
        // `cargo test` sets these for this test binary as `cargo run` does for xtask.
        for name in ["CARGO_PKG_NAME", "CARGO_MANIFEST_DIR"] {
            assert!(
                std::env::var_os(name).is_some(),
                "{name} is set under cargo"
            );
        }
        let shown = without_cargo_run_env(Command::new("sh").args([
            "-c",
            "echo ${CARGO_PKG_NAME-unset} ${CARGO_PKG_VERSION-unset} ${CARGO_MANIFEST_DIR-unset} ${PATH:+path}",
        ]))
        .output()
        .unwrap();
        assert_eq!(
            String::from_utf8(shown.stdout).unwrap().trim(),
            "unset unset unset path"
        );
    }
}
