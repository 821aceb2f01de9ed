//! docs/operations.md's configuration reference is the one table of every setting, and it is
//! true to the code: every environment variable a service reads is in it with the default the
//! code has, and every variable in it is read by some service. The other docs link to it.

use std::collections::BTreeMap;
use std::path::Path;

use clap::{Args, CommandFactory};

/// Every environment variable the services read, with its default (`None`: no default).
fn read_by_the_services() -> BTreeMap<String, Option<String>> {
    let commands = [
        orderflow_orders::Config::command(),
        orderflow_inventory::Config::augment_args(clap::Command::new("inventory")),
        orderflow_gateway::GatewaySettings::command(),
        orderflow_dev_idp::DevIdpSettings::command(),
    ];
    let mut variables = BTreeMap::new();
    for command in commands {
        for arg in command.get_arguments() {
            let Some(env) = arg.get_env() else { continue };
            let defaults: Vec<String> = arg
                .get_default_values()
                .iter()
                .map(|v| v.to_string_lossy().into_owned())
                .collect();
            let default = (!defaults.is_empty()).then(|| defaults.join(","));
            variables.insert(env.to_string_lossy().into_owned(), default);
        }
    }
    variables
}

/// The reference's rows: variable → its default cell.
fn documented() -> BTreeMap<String, String> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/operations.md");
    let text = std::fs::read_to_string(path).unwrap();
    let section = text
        .split("## Configuration reference")
        .nth(1)
        .and_then(|rest| rest.split("\n## ").next())
        .expect("docs/operations.md has a Configuration reference section");
    section
        .lines()
        .filter_map(|line| {
            let cells: Vec<&str> = line.split('|').map(str::trim).collect();
            let variable = cells.get(1)?.strip_prefix('`')?.strip_suffix('`')?;
            let upper = variable
                .bytes()
                .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_');
            upper.then(|| (variable.to_owned(), cells.get(2).unwrap_or(&"").to_string()))
        })
        .collect()
}

#[test]
fn every_setting_is_documented_once_with_the_default_of_the_code() {
    let code = read_by_the_services();
    let docs = documented();
    assert!(
        code.len() > 40,
        "found only {} settings in the code",
        code.len()
    );
    let mut problems = Vec::new();
    for (variable, default) in &code {
        match (docs.get(variable), default) {
            (None, _) => problems.push(format!("{variable} is read but not documented")),
            (Some(cell), Some(default)) if !cell.starts_with(&format!("`{default}`")) => problems
                .push(format!(
                    "{variable}: the code's default is {default}, the docs say {cell}"
                )),
            (Some(cell), None) if cell.starts_with('`') => problems.push(format!(
                "{variable} has no default in the code, the docs say {cell}"
            )),
            _ => {}
        }
    }
    // RUST_LOG is read by tracing-subscriber, not by clap.
    for variable in docs.keys().filter(|v| *v != "RUST_LOG") {
        if !code.contains_key(variable) {
            problems.push(format!("{variable} is documented but no service reads it"));
        }
    }
    assert!(problems.is_empty(), "{problems:#?}");
}
