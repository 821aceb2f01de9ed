//! The alert rule file, read as Prometheus reads it (`rule_files:`), with unknown keys refused.

use std::collections::{BTreeMap, BTreeSet};

use serde::Deserialize;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RuleFile {
    groups: Vec<Group>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Group {
    name: String,
    interval: Option<String>,
    rules: Vec<Rule>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Rule {
    alert: Option<String>,
    record: Option<String>,
    expr: String,
    #[serde(rename = "for")]
    pending: Option<String>,
    keep_firing_for: Option<String>,
    #[serde(default)]
    labels: BTreeMap<String, String>,
    #[serde(default)]
    annotations: BTreeMap<String, String>,
}

/// Every problem of the rule file `yaml`, checked against the `known` metric names; empty when
/// it is sound. Besides what Prometheus itself refuses, every alert must say how urgent it is
/// (`severity` `page` or `ticket`) and carry a `summary`, a `description` and a `runbook`.
pub fn check_rules(yaml: &str, known: &BTreeSet<String>) -> Vec<String> {
    let file: RuleFile = match yaml_serde::from_str(yaml) {
        Ok(file) => file,
        Err(e) => return vec![format!("not a Prometheus rule file: {e}")],
    };
    let mut problems = Vec::new();
    let mut groups = BTreeSet::new();
    let mut alerts = BTreeSet::new();
    for group in &file.groups {
        if !groups.insert(&group.name) {
            problems.push(format!("group {} is defined twice", group.name));
        }
        if let Some(interval) = group.interval.as_deref().filter(|d| !is_duration(d)) {
            problems.push(format!(
                "{}: {interval:?} is not a Prometheus duration",
                group.name
            ));
        }
        for rule in &group.rules {
            let name = match (&rule.alert, &rule.record) {
                (Some(alert), None) => alert,
                (None, Some(record)) => record,
                _ => {
                    problems.push(format!("{}: a rule needs `alert` or `record`", group.name));
                    continue;
                }
            };
            if rule.alert.is_some() {
                if !alerts.insert(name) {
                    problems.push(format!("alert {name} is defined twice"));
                }
                if !matches!(
                    rule.labels.get("severity").map(String::as_str),
                    Some("page" | "ticket")
                ) {
                    problems.push(format!("{name}: severity must be page or ticket"));
                }
                for key in ["summary", "description", "runbook"] {
                    if !rule.annotations.contains_key(key) {
                        problems.push(format!("{name}: no {key} annotation"));
                    }
                }
            }
            for duration in rule.pending.iter().chain(&rule.keep_firing_for) {
                if !is_duration(duration) {
                    problems.push(format!("{name}: {duration:?} is not a Prometheus duration"));
                }
            }
            if let Err(e) = crate::check_expr(name, &rule.expr, known) {
                problems.push(e);
            }
        }
    }
    problems
}

/// A Prometheus duration: one or more `<number><unit>`, units `ms s m h d w y`, e.g. `1h30m`.
fn is_duration(text: &str) -> bool {
    regex::Regex::new(r"^([0-9]+(ms|s|m|h|d|w|y))+$")
        .unwrap()
        .is_match(text)
}
