//! The Grafana dashboard, read as Grafana's JSON model: the fields an import needs, unique panel
//! ids, panels inside the 24-column grid, and every query checked like an alert's.

use std::collections::BTreeSet;

use serde_json::Value;

/// Every problem of the dashboard `json`, checked against the `known` metric names; empty when
/// it is sound. Queries must use the dashboard's `datasource` variable, so the file imports into
/// any Grafana whatever its Prometheus is called.
pub fn check_dashboard(json: &str, known: &BTreeSet<String>) -> Vec<String> {
    let dashboard: Value = match serde_json::from_str(json) {
        Ok(value) => value,
        Err(e) => return vec![format!("not JSON: {e}")],
    };
    let mut problems = Vec::new();
    for key in ["title", "uid", "schemaVersion", "panels", "templating"] {
        if dashboard.get(key).is_none() {
            problems.push(format!("no `{key}`"));
        }
    }
    let datasource_variable = dashboard["templating"]["list"]
        .as_array()
        .into_iter()
        .flatten()
        .any(|v| v["type"] == "datasource" && v["name"] == "datasource");
    if !datasource_variable {
        problems.push("no `datasource` variable of type datasource".to_owned());
    }
    let mut ids = BTreeSet::new();
    for panel in dashboard["panels"].as_array().into_iter().flatten() {
        let title = panel["title"].as_str().unwrap_or("(untitled)");
        if !panel["id"].as_u64().is_some_and(|id| ids.insert(id)) {
            problems.push(format!("{title}: no id, or one used twice"));
        }
        let grid = &panel["gridPos"];
        let fits = |key: &str| grid[key].as_u64();
        match (fits("x"), fits("w"), fits("h"), fits("y")) {
            (Some(x), Some(w), Some(h), Some(_)) if w > 0 && h > 0 && x + w <= 24 => {}
            _ => problems.push(format!("{title}: gridPos outside the 24-column grid")),
        }
        let targets = panel["targets"].as_array().cloned().unwrap_or_default();
        if targets.is_empty() {
            problems.push(format!("{title}: no query"));
        }
        for target in targets {
            if target["datasource"]["uid"] != "${datasource}" {
                problems.push(format!("{title}: a query not on ${{datasource}}"));
            }
            match target["expr"].as_str() {
                Some(expr) => {
                    if let Err(e) = crate::check_expr(title, expr, known) {
                        problems.push(e);
                    }
                }
                None => problems.push(format!("{title}: a query without `expr`")),
            }
        }
    }
    problems
}
