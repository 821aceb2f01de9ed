//! deploy/monitoring is sound against the code as it is (see the crate's docs), and the checks
//! catch what they are for: a misspelt metric, a broken expression, a missing annotation.

use std::path::{Path, PathBuf};

use orderflow_published::{check_dashboard, check_rules, recorded_metrics};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn read(relative: &str) -> String {
    std::fs::read_to_string(root().join(relative)).unwrap_or_else(|e| panic!("{relative}: {e}"))
}

#[test]
fn the_services_record_the_metrics_operators_need() {
    let known = recorded_metrics(&root());
    for name in [
        "http_requests_total",
        "http_request_duration_seconds_bucket",
        "outbox_published_total",
        "outbox_relay_wait_seconds_bucket",
        "inbox_redeliveries_total",
        "gateway_connections",
        "gateway_resumes_total",
        "gateway_slow_consumer_closes_total",
    ] {
        assert!(known.contains(name), "{name} not found in {known:?}");
    }
}

#[test]
fn the_alert_rules_are_sound() {
    let problems = check_rules(
        &read("deploy/monitoring/alerts.yml"),
        &recorded_metrics(&root()),
    );
    assert!(problems.is_empty(), "{problems:#?}");
}

#[test]
fn the_dashboard_is_sound() {
    let known = recorded_metrics(&root());
    let problems = check_dashboard(&read("deploy/monitoring/orderflow-dashboard.json"), &known);
    assert!(problems.is_empty(), "{problems:#?}");
}

#[test]
fn the_checks_catch_what_they_are_for() {
    let known = recorded_metrics(&root());
    let rules = read("deploy/monitoring/alerts.yml");
    let misspelt = rules.replacen(
        "outbox_publish_failures_total",
        "outbox_publish_failure_total",
        1,
    );
    assert!(
        check_rules(&misspelt, &known)
            .iter()
            .any(|p| p.contains("no service records"))
    );
    let broken = rules.replacen(
        "rate(outbox_publish_failures_total[5m])",
        "rate(outbox_publish_failures_total[5m]",
        1,
    );
    assert!(
        check_rules(&broken, &known)
            .iter()
            .any(|p| p.contains("not PromQL"))
    );
    let unannotated = rules.replacen("runbook:", "runbook_url:", 1);
    assert!(
        check_rules(&unannotated, &known)
            .iter()
            .any(|p| p.contains("no runbook"))
    );
    let dashboard = read("deploy/monitoring/orderflow-dashboard.json");
    let renamed = dashboard.replacen("gateway_groups", "gateway_group_count", 1);
    assert!(
        check_dashboard(&renamed, &known)
            .iter()
            .any(|p| p.contains("no service records"))
    );
}
