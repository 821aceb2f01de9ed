//! `cargo xtask codegen [--check]`: regenerates the committed protobuf bindings of
//! `orderflow-events` from `proto-schemas/`, or checks that they are up to date.
//!
//! The bindings are committed so that consumers build without running codegen; this
//! command is how they are refreshed after a `.proto` change, and `--check` is how CI
//! proves nobody forgot.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};

// The generation itself lives next to the crate it feeds, shared with that crate's
// freshness test, so both always use the same prost-build settings.
#[path = "../../crates/events/codegen/generate.rs"]
mod generate;

/// Regenerates `crates/events/src/gen/` from `proto-schemas/`.
///
/// With `check`, generates into a temporary folder instead and fails, naming the
/// stale files, if anything differs from what is committed.
pub fn run(check: bool) -> anyhow::Result<()> {
    let root = workspace_root();
    let proto_root = root.join(generate::PROTO_DIR);
    let gen_dir = root.join(generate::GEN_DIR);

    let fresh = tempfile::tempdir().context("creating a temporary folder")?;
    generate::generate(&proto_root, fresh.path())
        .map_err(|error| anyhow::anyhow!("generating bindings: {error}"))?;
    let stale = generate::stale_files(&gen_dir, fresh.path())
        .with_context(|| format!("comparing {}", gen_dir.display()))?;

    if stale.is_empty() {
        println!("codegen: {} is up to date", generate::GEN_DIR);
        return Ok(());
    }
    if check {
        bail!(
            "generated code is stale: {} in {} differ from what {} generates; \
             run `cargo xtask codegen` and commit the result",
            stale.join(", "),
            generate::GEN_DIR,
            generate::PROTO_DIR,
        );
    }

    std::fs::create_dir_all(&gen_dir).with_context(|| format!("creating {}", gen_dir.display()))?;
    for name in &stale {
        let source = fresh.path().join(name);
        let target = gen_dir.join(name);
        if source.exists() {
            std::fs::copy(&source, &target)
                .with_context(|| format!("writing {}", target.display()))?;
        } else {
            // A file whose package no longer exists.
            std::fs::remove_file(&target)
                .with_context(|| format!("removing {}", target.display()))?;
        }
        println!("codegen: updated {}/{name}", generate::GEN_DIR);
    }
    Ok(())
}

fn workspace_root() -> PathBuf {
    // xtask lives one level below the workspace root.
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask has a parent folder")
        .to_path_buf()
}
