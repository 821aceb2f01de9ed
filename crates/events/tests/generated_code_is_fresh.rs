//! Fails when `src/gen/` no longer matches what `proto-schemas/` generates, so a
//! `.proto` edit without `cargo xtask codegen` is caught by `cargo test`.

use std::path::{Path, PathBuf};

// Same generation code as `cargo xtask codegen`.
#[path = "../codegen/generate.rs"]
mod generate;

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap()
}

#[test]
fn committed_bindings_match_the_schemas() {
    let root = workspace_root();
    let fresh = tempfile::tempdir().unwrap();
    generate::generate(&root.join(generate::PROTO_DIR), fresh.path()).unwrap();

    let stale = generate::stale_files(&root.join(generate::GEN_DIR), fresh.path()).unwrap();
    assert!(
        stale.is_empty(),
        "stale generated files in {}: {}; run `cargo xtask codegen` and commit the result",
        generate::GEN_DIR,
        stale.join(", ")
    );
}

#[test]
fn a_changed_schema_is_reported_as_stale() {
    // Proves the comparison can fail: generate from a copy of the schemas with one
    // extra field and compare against the committed code.
    let root = workspace_root();
    let protos = tempfile::tempdir().unwrap();
    for file in generate::proto_files(&root.join(generate::PROTO_DIR)).unwrap() {
        let relative = file.strip_prefix(root.join(generate::PROTO_DIR)).unwrap();
        let target = protos.path().join(relative);
        std::fs::create_dir_all(target.parent().unwrap()).unwrap();
        std::fs::copy(&file, &target).unwrap();
    }
    let metadata = protos.path().join("orderflow/common/v1/metadata.proto");
    let text = std::fs::read_to_string(&metadata).unwrap();
    let edited = text.replacen(
        "message EventMetadata {",
        "message EventMetadata {\n  // Added by the test.\n  string extra = 99;",
        1,
    );
    assert_ne!(text, edited, "the test's edit must apply");
    std::fs::write(&metadata, edited).unwrap();

    let fresh = tempfile::tempdir().unwrap();
    generate::generate(protos.path(), fresh.path()).unwrap();
    let stale = generate::stale_files(&root.join(generate::GEN_DIR), fresh.path()).unwrap();
    assert_eq!(stale, vec!["orderflow.common.v1.rs".to_string()]);
}
