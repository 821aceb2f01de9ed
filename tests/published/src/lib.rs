//! Checks of what OrderFlow publishes for others to load. The REST services' OpenAPI documents
//! are checked by this crate's tests with the OpenAPI Initiative's schema (`openapi-validator/`,
//! a pinned npm package). This library checks `deploy/monitoring`, the Prometheus alert rules
//! and the Grafana dashboard operators load: without promtool or Grafana on the machine, a rule
//! file or a panel whose
//! query names a metric that no longer exists would only fail on someone's pager. So: the files
//! have the shape Prometheus and Grafana read, every expression parses as PromQL (the parser of
//! GreptimeDB, which follows Prometheus' grammar), and every metric an expression names is one
//! the services record, found in their source.

use std::collections::BTreeSet;
use std::path::Path;

use promql_parser::parser::{self, Expr};

mod dashboard;
mod rules;

pub use dashboard::check_dashboard;
pub use rules::check_rules;

/// The metric names the services record: the first argument of every `counter!`, `gauge!` and
/// `histogram!` in `crates/` and `services/`, and the string constants of their metric-name
/// modules (`metrics.rs`, `http_metrics.rs`), which those macros are called with. A histogram
/// also answers to its `_bucket`, `_sum` and `_count` series.
pub fn recorded_metrics(root: &Path) -> BTreeSet<String> {
    let call = regex::Regex::new(r#"(counter|gauge|histogram)!\(\s*"([a-z_:]+)""#).unwrap();
    let constant = regex::Regex::new(r#"pub const [A-Z_]+: &str = "([a-z_:]+)";"#).unwrap();
    let mut names = BTreeSet::new();
    for dir in ["crates", "services"] {
        for file in rust_sources(&root.join(dir)) {
            let text = std::fs::read_to_string(&file).unwrap_or_default();
            for found in call.captures_iter(&text) {
                names.insert(found[2].to_owned());
            }
            let name = file.file_name().and_then(|n| n.to_str()).unwrap_or("");
            if name.ends_with("metrics.rs") {
                for found in constant.captures_iter(&text) {
                    names.insert(found[1].to_owned());
                }
            }
        }
    }
    let histograms: Vec<String> = names
        .iter()
        .filter(|n| n.ends_with("_seconds"))
        .cloned()
        .collect();
    for histogram in histograms {
        for suffix in ["_bucket", "_sum", "_count"] {
            names.insert(format!("{histogram}{suffix}"));
        }
    }
    names
}

fn rust_sources(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut found = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return found;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let name = entry.file_name();
        if path.is_dir() && name != "tests" && name != "target" {
            found.extend(rust_sources(&path));
        } else if path.extension().is_some_and(|e| e == "rs") {
            found.push(path);
        }
    }
    found
}

/// Parses `query` (with Grafana's `$__…` variables replaced by durations, as Grafana does)
/// and returns the metric names it selects, or why it is not PromQL.
pub fn metrics_of(query: &str) -> Result<BTreeSet<String>, String> {
    let query = query
        .replace("$__rate_interval", "1m")
        .replace("$__interval", "30s")
        .replace("$__range", "3h");
    let expr = parser::parse(&query)?;
    let mut names = BTreeSet::new();
    collect(&expr, &mut names);
    Ok(names)
}

fn collect(expr: &Expr, names: &mut BTreeSet<String>) {
    match expr {
        Expr::VectorSelector(vs) => names.extend(vs.name.clone()),
        Expr::MatrixSelector(ms) => names.extend(ms.vs.name.clone()),
        Expr::Aggregate(a) => {
            collect(&a.expr, names);
            if let Some(param) = &a.param {
                collect(param, names);
            }
        }
        Expr::Unary(u) => collect(&u.expr, names),
        Expr::Binary(b) => {
            collect(&b.lhs, names);
            collect(&b.rhs, names);
        }
        Expr::Paren(p) => collect(&p.expr, names),
        Expr::Subquery(s) => collect(&s.expr, names),
        Expr::Call(c) => c.args.args.iter().for_each(|arg| collect(arg, names)),
        Expr::NumberLiteral(_) | Expr::StringLiteral(_) | Expr::Extension(_) => {}
    }
}

/// Checks one expression: it parses, selects at least one metric, and selects only `known`
/// ones. `what` names it in the error.
fn check_expr(what: &str, query: &str, known: &BTreeSet<String>) -> Result<(), String> {
    let names = metrics_of(query).map_err(|e| format!("{what}: not PromQL ({e}): {query}"))?;
    if names.is_empty() {
        return Err(format!("{what}: selects no metric: {query}"));
    }
    let unknown: Vec<&String> = names.iter().filter(|n| !known.contains(*n)).collect();
    if unknown.is_empty() {
        Ok(())
    } else {
        Err(format!("{what}: no service records {unknown:?}"))
    }
}
