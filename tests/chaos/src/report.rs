//! The verdict of a round and the table the suite prints: one row per round, then a summary.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use orderflow_scale_out::ledger::Ledger;

use crate::readyz::ReadyzFigures;
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
    /// What the driver's requests got.
    pub http: HttpFigures,
    /// Acknowledged changes missing from the database or the stream, or there twice; orders
    /// nobody was told about (see `verify::orders`).
    pub db_problems: Vec<String>,
    /// Stock that does not add up (see `verify::stock`); `None` if it could not be checked.
    pub stock_problems: Option<Vec<String>>,
    /// The longest time from an order's confirmation to its reservation.
    pub slowest_reservation: Option<Duration>,
    /// What `/readyz` of orders and inventory answered during the round.
    pub readyz: ReadyzFigures,
    /// The scenario's own expectations that were not met (`Scenario::expect`).
    pub fault_problems: Vec<String>,
    /// How the fault went (e.g. how long a service took to exit after SIGTERM).
    pub fault_notes: Vec<String>,
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
            http: HttpFigures::default(),
            db_problems: Vec::new(),
            stock_problems: None,
            slowest_reservation: None,
            readyz: ReadyzFigures::default(),
            fault_problems: Vec::new(),
            fault_notes: Vec::new(),
            took,
            notes: Vec::new(),
            error: Some(error),
        }
    }

    /// Nothing lost, duplicated, reordered or foreign; every resume ok; no client error; every
    /// acknowledged change in the database and the stream exactly once; stock exact; the
    /// scenario's own expectations met.
    pub fn passed(&self) -> bool {
        let o = &self.outcome;
        self.error.is_none()
            && self.caught_up.is_some()
            && self.db_problems.is_empty()
            && self.stock_problems.as_ref().is_some_and(Vec::is_empty)
            && self.fault_problems.is_empty()
            && o.lost == 0
            && o.duplicated == 0
            && o.out_of_order == 0
            && o.foreign == 0
            && o.resumed_reload == 0
            && o.errors == 0
            && self.stream_anomalies == 0
    }
}

/// What the driver's HTTP requests got.
#[derive(Debug, Default, Clone)]
pub struct HttpFigures {
    /// Requests sent, retries included.
    pub requests: u64,
    /// Requests without a 2xx.
    pub failed: u64,
    /// ... of which got no answer.
    pub transport: u64,
    /// ... of which were `503 database_unavailable` with `Retry-After`.
    pub unavailable: u64,
    /// ... of which were anything else.
    pub other: u64,
    /// Retries (same `Idempotency-Key`).
    pub retries: u64,
    /// Retries answered 409.
    pub retry_conflicts: u64,
    /// The slowest answer to a failed request (no answer at all does not count).
    pub slowest_failure: Duration,
    /// The last failure.
    pub last_failure: Option<String>,
    /// The last failure of the `other` kind.
    pub last_other: Option<String>,
}

/// Column layout shared by the header and the rows.
macro_rules! columns {
    () => {
        "{:<17} {:>5} {:>6} {:>10} {:>4} {:>4} {:>4} {:>7} {:>6} {:>13} {:>6} {:>8} {:>9} {:>4} {:>5} {:>8} {:>8} {:>5}  {}"
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
        "db",
        "stock",
        "resv max",
        "readyz",
        "took",
        "verdict"
    )
}

/// `ok`, or how many problems.
fn problems(p: Option<&Vec<String>>) -> String {
    match p {
        None => "?".to_owned(),
        Some(p) if p.is_empty() => "ok".to_owned(),
        Some(p) => p.len().to_string(),
    }
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
        problems(Some(&r.db_problems)),
        problems(r.stock_problems.as_ref()),
        secs(r.slowest_reservation),
        secs((r.readyz.answered > 0).then_some(r.readyz.slowest)),
        format!("{:.0}s", r.took.as_secs_f64()),
        if r.passed() { "ok" } else { "FAIL" }
    )
}

/// The driver's line under a row: requests, failures by kind, retries, the last failure; and
/// what `/readyz` answered.
pub fn http_line(r: &RoundResult) -> String {
    let h = &r.http;
    let mut line = format!(
        "    http: {} requests, {} failed ({} 503+Retry-After, {} no answer, {} other; slowest \
         failure answered in {}), {} retries with the same key, {} answered 409",
        h.requests,
        h.failed,
        h.unavailable,
        h.transport,
        h.other,
        secs(Some(h.slowest_failure)),
        h.retries,
        h.retry_conflicts
    );
    if let Some(f) = h.last_other.as_ref().or(h.last_failure.as_ref()) {
        line.push_str(&format!(
            " (last: {})",
            f.chars().take(100).collect::<String>()
        ));
    }
    let z = &r.readyz;
    line.push_str(&format!(
        "\n    readyz: {} answers, slowest {}, {} not ready, {} unanswered, {} timed out",
        z.answered,
        secs(Some(z.slowest)),
        z.unready,
        z.unanswered,
        z.timed_out
    ));
    for note in &r.fault_notes {
        line.push_str(&format!("\n    fault: {note}"));
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
        let http = |f: fn(&HttpFigures) -> u64| rs.iter().map(|r| f(&r.http)).sum::<u64>();
        lines.push(format!(
            "{s}: {passed}/{} rounds passed; {} events, {} deliveries; lost {}, duplicated {}, \
             out of order {}, foreign {}, reloads {}, client errors {}; max lag {}, slowest \
             catch-up {}; {} requests, {} failed ({} 503+Retry-After, {} no answer, {} other), \
             {} retries, {} answered 409; slowest reservation {}, slowest /readyz {}",
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
            http(|h| h.requests),
            http(|h| h.failed),
            http(|h| h.unavailable),
            http(|h| h.transport),
            http(|h| h.other),
            http(|h| h.retries),
            http(|h| h.retry_conflicts),
            secs(rs.iter().filter_map(|r| r.slowest_reservation).max()),
            secs(rs.iter().map(|r| r.readyz.slowest).max()),
        ));
    }
    lines
}
