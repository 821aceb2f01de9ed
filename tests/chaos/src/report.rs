//! The verdict of a round and the table the suite prints: one row per round, then a summary.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use orderflow_scale_out::ledger::Ledger;

use crate::scenario::Scenario;

/// Every client's arrivals compared with the stream, added up.
#[derive(Debug, Default, Clone)]
pub struct Outcome {
    /// ORDERS messages received by all clients, duplicates included.
    pub deliveries: usize,
    /// Expected (client, position) pairs never received.
    pub lost: usize,
    /// Arrivals beyond the first of a position.
    pub duplicated: usize,
    /// Positions that arrived after a later one of the same stream.
    pub out_of_order: usize,
    /// Positions received that were not for that client.
    pub foreign: usize,
    /// Lost connections that the clients reported.
    pub reconnects: usize,
    /// `Resumed` (or `Resume`) answers with status `ok`.
    pub resumed_ok: usize,
    /// Answers with status `reload`.
    pub resumed_reload: usize,
    /// Errors the clients reported (no `Resumed` after a reconnect, a closed connection, ...).
    pub errors: usize,
    /// What went wrong, a few lines per client at most.
    pub notes: Vec<String>,
}

impl Outcome {
    /// Judges clients `ids` against `expected` (clients absent from it expect nothing).
    pub fn judge(
        ledger: &Ledger,
        ids: &[String],
        expected: &BTreeMap<String, BTreeSet<u64>>,
    ) -> Outcome {
        let mut o = Outcome::default();
        for id in ids {
            let want = expected.get(id).cloned().unwrap_or_default();
            let verdict = ledger.verdict(id, &want);
            let log = ledger.client(id);
            o.deliveries += log.raw.len();
            o.lost += verdict.lost.len();
            o.duplicated += verdict.raw_duplicates;
            o.out_of_order += verdict.out_of_order;
            o.foreign += verdict.foreign.len();
            o.reconnects += log.reconnects;
            for r in &log.resumes {
                match r["status"].as_str() {
                    Some("ok") => o.resumed_ok += 1,
                    _ => o.resumed_reload += 1,
                }
            }
            o.errors += log.errors.len();
            if !verdict.lost.is_empty() || !verdict.foreign.is_empty() {
                o.notes.push(format!(
                    "client {id}: lost {:?} foreign {:?}",
                    first(&verdict.lost),
                    first(&verdict.foreign)
                ));
            }
            if verdict.raw_duplicates > 0 || verdict.out_of_order > 0 {
                o.notes.push(format!(
                    "client {id}: {} duplicated, {} out of order",
                    verdict.raw_duplicates, verdict.out_of_order
                ));
            }
            if let Some(e) = log.errors.first() {
                o.notes.push(format!(
                    "client {id}: {} errors, first: {e}",
                    log.errors.len()
                ));
            }
            if log.resumes.iter().any(|r| r["status"] != "ok") {
                o.notes
                    .push(format!("client {id}: resumes {:?}", log.resumes));
            }
        }
        o
    }
}

fn first(v: &[u64]) -> Vec<u64> {
    v.iter().copied().take(8).collect()
}

/// One round's figures.
#[derive(Debug)]
pub struct RoundResult {
    /// Which fault.
    pub scenario: Scenario,
    /// 1-based round number within the scenario.
    pub round: usize,
    /// Events stored in `ORDERS` during the round.
    pub events: usize,
    /// The clients' verdict.
    pub outcome: Outcome,
    /// Orders whose events in the stream are not versions 1..=n once each.
    pub stream_anomalies: usize,
    /// From the driver's stop until the last expected position arrived; `None` if some never
    /// did.
    pub caught_up: Option<Duration>,
    /// The longest time from an update's commit to its arrival at a client that should get
    /// it (an outage shows up here); `None` if some never arrived.
    pub max_lag: Option<Duration>,
    /// Requests the driver sent and how many failed (expected while orders is dead).
    pub requests: u64,
    /// See `requests`.
    pub failed_requests: u64,
    /// The driver's last failure.
    pub last_failure: Option<String>,
    /// Wall time of the round.
    pub took: Duration,
    /// Details of anything that went wrong.
    pub notes: Vec<String>,
    /// The round could not run to the end (set-up failed, a wait ran out, a panic).
    pub error: Option<String>,
}

impl RoundResult {
    /// A round that did not run to the end.
    pub fn failed(scenario: Scenario, round: usize, took: Duration, error: String) -> RoundResult {
        RoundResult {
            scenario,
            round,
            events: 0,
            outcome: Outcome::default(),
            stream_anomalies: 0,
            caught_up: None,
            max_lag: None,
            requests: 0,
            failed_requests: 0,
            last_failure: None,
            took,
            notes: Vec::new(),
            error: Some(error),
        }
    }

    /// Nothing lost, duplicated, reordered or foreign; every resume ok; no client error.
    pub fn passed(&self) -> bool {
        let o = &self.outcome;
        self.error.is_none()
            && self.caught_up.is_some()
            && o.lost == 0
            && o.duplicated == 0
            && o.out_of_order == 0
            && o.foreign == 0
            && o.resumed_reload == 0
            && o.errors == 0
            && self.stream_anomalies == 0
    }
}

/// Column layout shared by the header and the rows.
macro_rules! columns {
    () => {
        "{:<17} {:>5} {:>6} {:>10} {:>4} {:>4} {:>4} {:>7} {:>6} {:>13} {:>8} {:>9} {:>11} {:>5}  {}"
    };
}

/// The table's header.
pub fn header() -> String {
    format!(
        columns!(),
        "scenario",
        "round",
        "events",
        "deliveries",
        "lost",
        "dup",
        "ooo",
        "foreign",
        "reconn",
        "resumed ok/rl",
        "errors",
        "max lag",
        "caught up",
        "took",
        "verdict"
    )
}

fn secs(d: Option<Duration>) -> String {
    match d {
        None => "never".to_owned(),
        Some(d) if d < Duration::from_secs(1) => format!("{}ms", d.as_millis()),
        Some(d) => format!("{:.2}s", d.as_secs_f64()),
    }
}

/// One row.
pub fn row(r: &RoundResult) -> String {
    let o = &r.outcome;
    format!(
        columns!(),
        r.scenario.to_string(),
        r.round,
        r.events,
        o.deliveries,
        o.lost,
        o.duplicated,
        o.out_of_order,
        o.foreign,
        o.reconnects,
        format!("{}/{}", o.resumed_ok, o.resumed_reload),
        o.errors,
        secs(r.max_lag),
        secs(r.caught_up),
        format!("{:.0}s", r.took.as_secs_f64()),
        if r.passed() { "ok" } else { "FAIL" }
    )
}

/// The driver's line under a row: requests, failures, the last failure.
pub fn http_line(r: &RoundResult) -> String {
    let mut line = format!(
        "    http: {} requests, {} failed",
        r.requests, r.failed_requests
    );
    if let Some(f) = &r.last_failure {
        line.push_str(&format!(
            " (last: {})",
            f.chars().take(120).collect::<String>()
        ));
    }
    line
}

/// Per scenario: rounds passed, events, deliveries, problems, worst lag and catch-up.
pub fn summary(results: &[RoundResult]) -> Vec<String> {
    let mut lines = Vec::new();
    let mut scenarios: Vec<Scenario> = results.iter().map(|r| r.scenario).collect();
    scenarios.dedup();
    for s in scenarios {
        let rs: Vec<&RoundResult> = results.iter().filter(|r| r.scenario == s).collect();
        let passed = rs.iter().filter(|r| r.passed()).count();
        let sum = |f: fn(&RoundResult) -> usize| rs.iter().map(|r| f(r)).sum::<usize>();
        lines.push(format!(
            "{s}: {passed}/{} rounds passed; {} events, {} deliveries; lost {}, duplicated {}, \
             out of order {}, foreign {}, reloads {}, client errors {}; max lag {}, slowest \
             catch-up {}",
            rs.len(),
            sum(|r| r.events),
            sum(|r| r.outcome.deliveries),
            sum(|r| r.outcome.lost),
            sum(|r| r.outcome.duplicated),
            sum(|r| r.outcome.out_of_order),
            sum(|r| r.outcome.foreign),
            sum(|r| r.outcome.resumed_reload),
            sum(|r| r.outcome.errors),
            secs(rs.iter().filter_map(|r| r.max_lag).max()),
            secs(rs.iter().filter_map(|r| r.caught_up).max()),
        ));
    }
    lines
}
