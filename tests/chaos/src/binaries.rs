//! Finds the service binaries (`orders`, `inventory`, `gateway`) that the chaos suite runs as
//! real processes, building them when they are missing.
//!
//! A package's tests only get `CARGO_BIN_EXE_*` for its own binaries, and starting the
//! services in-process would make `kill -9` impossible. So the suite looks where cargo put its
//! own executable: `chaos` lives in `target/<profile>/` (and a test executable in
//! `target/<profile>/deps/`), and cargo puts every workspace binary of that profile in
//! `target/<profile>/`. `cargo test --workspace` and `cargo xtask chaos` build them all before
//! anything runs; when one is missing (e.g. `cargo test -p orderflow-chaos` on a fresh
//! checkout) this runs `cargo build -p ...` for the same profile first. `cargo test -p
//! orderflow-chaos` alone does not rebuild binaries that exist but are stale: build the
//! workspace (or use `cargo xtask chaos`) after changing a service.
//! `ORDERFLOW_CHAOS_BIN_DIR` overrides the directory (nothing is built for it).

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, bail};

/// Overrides the directory holding the service binaries.
pub const BIN_DIR_ENV: &str = "ORDERFLOW_CHAOS_BIN_DIR";

/// (package, binary) of every service the suite starts.
pub const SERVICES: [(&str, &str); 3] = [
    ("orderflow-orders", "orders"),
    ("orderflow-inventory", "inventory"),
    ("orderflow-gateway", "gateway"),
];

/// Paths of the service binaries.
#[derive(Clone, Debug)]
pub struct Binaries {
    /// `orders`.
    pub orders: PathBuf,
    /// `inventory`.
    pub inventory: PathBuf,
    /// `gateway`.
    pub gateway: PathBuf,
}

impl Binaries {
    /// Locates the binaries (see the module doc), building missing ones.
    pub fn locate() -> anyhow::Result<Binaries> {
        let overridden = std::env::var_os(BIN_DIR_ENV).map(PathBuf::from);
        let dir = match &overridden {
            Some(dir) => dir.clone(),
            None => profile_dir(&std::env::current_exe().context("finding this executable")?)?,
        };
        let missing: Vec<&str> = SERVICES
            .iter()
            .filter(|(_, bin)| !dir.join(bin).is_file())
            .map(|(package, _)| *package)
            .collect();
        if !missing.is_empty() {
            if overridden.is_some() {
                bail!("{BIN_DIR_ENV}={} lacks {missing:?}", dir.display());
            }
            build(&dir, &missing)?;
        }
        Ok(Binaries {
            orders: dir.join("orders"),
            inventory: dir.join("inventory"),
            gateway: dir.join("gateway"),
        })
    }
}

/// `target/<profile>` for an executable in it or in its `deps/`.
fn profile_dir(exe: &Path) -> anyhow::Result<PathBuf> {
    let dir = exe.parent().context("executable without a directory")?;
    Ok(if dir.file_name().is_some_and(|n| n == "deps") {
        dir.parent()
            .context("deps/ without a parent")?
            .to_path_buf()
    } else {
        dir.to_path_buf()
    })
}

/// Builds `packages` with the profile that `dir` (`target/<profile>`) belongs to.
fn build(dir: &Path, packages: &[&str]) -> anyhow::Result<()> {
    let profile = dir
        .file_name()
        .and_then(|n| n.to_str())
        .context("binary directory without a name")?;
    // `debug` is where the `dev` (and `test`) profile puts its binaries.
    let profile = if profile == "debug" { "dev" } else { profile };
    // Cargo sets CARGO for the processes it runs; from a shell, `cargo` on PATH.
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut command = Command::new(cargo);
    command.args(["build", "--profile", profile]);
    for package in packages {
        command.args(["-p", package]);
    }
    // The workspace root: the target directory's parent unless CARGO_TARGET_DIR moved it.
    if let Some(root) = dir.parent().and_then(Path::parent)
        && root.join("Cargo.toml").is_file()
    {
        command.current_dir(root);
    }
    eprintln!("building missing service binaries: {command:?}");
    let status = command.status().context("running cargo build")?;
    if !status.success() {
        bail!("{command:?} failed with {status}");
    }
    for (_, bin) in SERVICES {
        if !dir.join(bin).is_file() {
            bail!(
                "{bin} is still missing from {} after building",
                dir.display()
            );
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_executables_look_one_level_up() {
        assert_eq!(
            profile_dir(Path::new("/w/target/debug/deps/smoke-0123")).unwrap(),
            PathBuf::from("/w/target/debug")
        );
        assert_eq!(
            profile_dir(Path::new("/w/target/release/chaos")).unwrap(),
            PathBuf::from("/w/target/release")
        );
    }
}
