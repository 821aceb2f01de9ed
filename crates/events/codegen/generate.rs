//! Generation of the Rust bindings in `crates/events/src/gen/` from `proto-schemas/`.
//!
//! This one file is compiled into two places through `#[path]`: `cargo xtask codegen`
//! (which writes or checks the committed files) and the `generated_code_is_fresh`
//! test of `orderflow-events` (so `cargo test` catches stale code). Sharing the file
//! guarantees both use exactly the same settings without a separate crate.

use std::collections::BTreeSet;
use std::error::Error;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

/// Error type of this module; the callers wrap it in their own error handling.
pub type BoxError = Box<dyn Error + Send + Sync>;

/// Folder of the `.proto` files, relative to the workspace root.
pub const PROTO_DIR: &str = "proto-schemas";

/// Folder of the committed generated Rust files, relative to the workspace root.
pub const GEN_DIR: &str = "crates/events/src/gen";

/// All `.proto` files under `proto_root`, sorted so generation is deterministic.
pub fn proto_files(proto_root: &Path) -> io::Result<Vec<PathBuf>> {
    let mut found = Vec::new();
    let mut pending = vec![proto_root.to_path_buf()];
    while let Some(dir) = pending.pop() {
        for entry in fs::read_dir(&dir)? {
            let path = entry?.path();
            if path.is_dir() {
                // The npm packages beside the contract (TS bindings, AsyncAPI validator) are
                // not part of it, whatever their dependencies ship.
                if !path.ends_with("node_modules") {
                    pending.push(path);
                }
            } else if path.extension().is_some_and(|ext| ext == "proto") {
                found.push(path);
            }
        }
    }
    found.sort();
    Ok(found)
}

/// Compiles every `.proto` file under `proto_root` with protox (pure Rust, no system
/// `protoc`) and writes one Rust file per protobuf package into `out_dir`, named after
/// the package (e.g. `orderflow.orders.v1.rs`).
pub fn generate(proto_root: &Path, out_dir: &Path) -> Result<(), BoxError> {
    let files = proto_files(proto_root)?;
    if files.is_empty() {
        return Err(format!("no .proto files under {}", proto_root.display()).into());
    }
    let descriptors = protox::compile(&files, [proto_root])?;
    prost_build::Config::new()
        .out_dir(out_dir)
        // Every message implements `prost::Name`, so its full protobuf name (used
        // in the `Orderflow-Schema` header) comes from the schema, not by hand.
        .enable_type_names()
        .compile_fds(descriptors)?;
    Ok(())
}

/// Names of the files that differ between the `committed` and `fresh` folders:
/// changed, missing from `committed`, or present only in `committed`.
pub fn stale_files(committed: &Path, fresh: &Path) -> io::Result<Vec<String>> {
    let names = file_names(committed)?
        .union(&file_names(fresh)?)
        .cloned()
        .collect::<BTreeSet<_>>();
    let mut stale = Vec::new();
    for name in names {
        let old = fs::read(committed.join(&name)).ok();
        let new = fs::read(fresh.join(&name)).ok();
        if old != new {
            stale.push(name);
        }
    }
    Ok(stale)
}

fn file_names(dir: &Path) -> io::Result<BTreeSet<String>> {
    let mut names = BTreeSet::new();
    if !dir.exists() {
        return Ok(names);
    }
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        if entry.file_type()?.is_file() {
            names.insert(entry.file_name().to_string_lossy().into_owned());
        }
    }
    Ok(names)
}
