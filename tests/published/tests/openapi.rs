//! The OpenAPI documents the REST services serve at `/api/openapi.json` are valid OpenAPI 3.1,
//! every `$ref` in them resolves (checked by `@seriousme/openapi-schema-validator`, which
//! validates against the OpenAPI Initiative's JSON Schema), and a broken document is refused.

use std::path::{Path, PathBuf};
use std::process::Command;

use utoipa::OpenApi;

fn validator_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("openapi-validator")
}

/// Runs the validator on `documents`; true when it accepts all of them.
fn validate(documents: &[(&str, serde_json::Value)]) -> bool {
    let dir = validator_dir();
    if !dir.join("node_modules").exists() {
        let installed = Command::new("npm")
            .args(["ci", "--no-audit", "--no-fund"])
            .current_dir(&dir)
            .status()
            .expect("npm runs");
        assert!(installed.success(), "npm ci failed in {}", dir.display());
    }
    let files = tempfile::tempdir().unwrap();
    let paths: Vec<PathBuf> = documents
        .iter()
        .map(|(name, document)| {
            let path = files.path().join(format!("{name}.json"));
            std::fs::write(&path, serde_json::to_vec_pretty(document).unwrap()).unwrap();
            path
        })
        .collect();
    Command::new("node")
        .arg("validate.mjs")
        .args(&paths)
        .current_dir(&dir)
        .status()
        .expect("node runs")
        .success()
}

fn documents() -> Vec<(&'static str, serde_json::Value)> {
    vec![
        (
            "orders",
            serde_json::to_value(orderflow_orders::api::ApiDoc::openapi()).unwrap(),
        ),
        (
            "inventory",
            serde_json::to_value(orderflow_inventory::api::ApiDoc::openapi()).unwrap(),
        ),
    ]
}

#[test]
fn the_services_openapi_documents_are_valid_openapi_3_1() {
    assert!(validate(&documents()));
}

#[test]
fn the_validator_refuses_a_broken_document() {
    let (name, mut document) = documents().remove(0);
    document["paths"]["/api/orders"]["post"]["responses"]["400"]["content"]["application/problem+json"]
        ["schema"]["$ref"] = "#/components/schemas/Nope".into();
    assert!(!validate(&[(name, document)]));
}
