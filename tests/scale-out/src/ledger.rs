//! What every SignalR client received, and how that compares with what it should have.
//!
//! The Node clients print one JSON object per line: `{"c": client, "t": kind, ...}` where kind
//! is `ready`, `msg` (with `p`, the position `STREAM:sequence`, and `m`, the method),
//! `reconnecting`, `resumed` (with `r`, the `Resume` result) or `error` (with `e`). A client
//! shows each position once (de-duplication by position, as the web app does); the ledger keeps
//! the raw arrivals too, so duplicates that reached the client are counted, not hidden.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::time::Instant;

use serde::Deserialize;
use serde_json::Value;

use crate::Error;

/// An event of the `ORDERS` stream as far as the clients are concerned: its position, and
/// whom the gateway pushes it to.
#[derive(Debug, Clone, Copy)]
pub struct Pushed<'a> {
    /// Stream sequence.
    pub sequence: u64,
    /// The customer token of its subject.
    pub customer: &'a str,
    /// Pushed to the customer's clients.
    pub to_customer: bool,
    /// Pushed to the admin dashboard.
    pub to_dashboard: bool,
}

/// The sequences each client should receive: customers' clients by customer id, and every admin
/// client in `admins` everything pushed to the dashboard.
pub fn expected_positions<'a>(
    events: impl IntoIterator<Item = Pushed<'a>>,
    admins: &[String],
) -> BTreeMap<String, BTreeSet<u64>> {
    let mut expected: BTreeMap<String, BTreeSet<u64>> = BTreeMap::new();
    for event in events {
        if event.to_customer {
            expected
                .entry(event.customer.to_owned())
                .or_default()
                .insert(event.sequence);
        }
        if event.to_dashboard {
            for admin in admins {
                expected
                    .entry(admin.clone())
                    .or_default()
                    .insert(event.sequence);
            }
        }
    }
    expected
}

#[derive(Deserialize)]
struct Line {
    c: String,
    t: String,
    #[serde(default)]
    p: Option<String>,
    #[serde(default)]
    r: Option<Value>,
    #[serde(default)]
    e: Option<String>,
}

/// One client's arrivals.
#[derive(Debug, Default, Clone)]
pub struct ClientLog {
    /// Handshake done and groups joined.
    pub ready: bool,
    /// Sequences of the `ORDERS` stream in arrival order, duplicates included.
    pub raw: Vec<u64>,
    /// Times the client lost its connection.
    pub reconnects: usize,
    /// Results of its `Resume` calls.
    pub resumes: Vec<Value>,
    /// When each `Resume` result was read.
    pub resumed_at: Vec<Instant>,
    /// Errors the client reported.
    pub errors: Vec<String>,
}

impl ClientLog {
    /// What the user sees: each position once, in arrival order.
    pub fn shown(&self) -> Vec<u64> {
        let mut seen = HashSet::new();
        self.raw
            .iter()
            .copied()
            .filter(|s| seen.insert(*s))
            .collect()
    }
}

/// Comparison of one client's view with what it should have received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    /// Expected but never shown.
    pub lost: Vec<u64>,
    /// Shown but not expected (another group's event).
    pub foreign: Vec<u64>,
    /// Arrivals beyond the first of a position (hidden by de-duplication).
    pub raw_duplicates: usize,
    /// Shown positions that arrived after a later one of the same stream (events replayed by
    /// `Resume` can follow live events that reached the new connection before the call).
    pub out_of_order: usize,
}

impl Verdict {
    /// Nothing lost, nothing foreign: every expected update shown exactly once.
    pub fn is_exact(&self) -> bool {
        self.lost.is_empty() && self.foreign.is_empty()
    }
}

/// Every client's log, fed line by line.
#[derive(Debug, Default)]
pub struct Ledger {
    clients: BTreeMap<String, ClientLog>,
}

impl Ledger {
    /// Records one line of a client's output, read at `at`.
    pub fn record(&mut self, line: &str, at: Instant) -> Result<(), Error> {
        let parsed: Line = serde_json::from_str(line).map_err(|source| Error::ClientLine {
            line: line.to_owned(),
            source,
        })?;
        let log = self.clients.entry(parsed.c).or_default();
        match parsed.t.as_str() {
            "ready" => log.ready = true,
            "reconnecting" => log.reconnects += 1,
            "resumed" => {
                log.resumes.push(parsed.r.unwrap_or(Value::Null));
                log.resumed_at.push(at);
            }
            "error" => log.errors.push(parsed.e.unwrap_or_default()),
            "msg" => {
                // Only order events are counted; low-stock alerts come from the other stream.
                if let Some(seq) = parsed.p.as_deref().and_then(|p| p.strip_prefix("ORDERS:")) {
                    log.raw.push(seq.parse().unwrap_or(0));
                }
            }
            _ => {}
        }
        Ok(())
    }

    /// The log of `client` (empty if it never wrote).
    pub fn client(&self, client: &str) -> ClientLog {
        self.clients.get(client).cloned().unwrap_or_default()
    }

    /// Number of clients that reported `ready`.
    pub fn ready_count(&self) -> usize {
        self.clients.values().filter(|c| c.ready).count()
    }

    /// Compares `client`'s view with the sequences it should have received.
    pub fn verdict(&self, client: &str, expected: &BTreeSet<u64>) -> Verdict {
        let log = self.client(client);
        let shown = log.shown();
        let shown_set: BTreeSet<u64> = shown.iter().copied().collect();
        Verdict {
            lost: expected.difference(&shown_set).copied().collect(),
            foreign: shown_set.difference(expected).copied().collect(),
            raw_duplicates: log.raw.len() - shown.len(),
            out_of_order: shown
                .iter()
                .scan(0u64, |max, &s| {
                    let late = s < *max;
                    *max = (*max).max(s);
                    Some(late)
                })
                .filter(|late| *late)
                .count(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ledger(lines: &[&str]) -> Ledger {
        let mut l = Ledger::default();
        for line in lines {
            l.record(line, Instant::now()).unwrap();
        }
        l
    }

    #[test]
    fn duplicates_are_counted_but_shown_once() {
        let l = ledger(&[
            r#"{"c":"a","t":"ready"}"#,
            r#"{"c":"a","t":"msg","m":"OrderStatusChanged","p":"ORDERS:3"}"#,
            r#"{"c":"a","t":"msg","m":"OrderStatusChanged","p":"ORDERS:3"}"#,
            r#"{"c":"a","t":"msg","m":"OrderStatusChanged","p":"ORDERS:5"}"#,
            r#"{"c":"a","t":"msg","m":"LowStockAlert","p":"INVENTORY:9"}"#,
        ]);
        let v = l.verdict("a", &BTreeSet::from([3, 5]));
        assert!(v.is_exact(), "{v:?}");
        assert_eq!(v.out_of_order, 0);
        assert_eq!(v.raw_duplicates, 1);
        assert_eq!(l.ready_count(), 1);
    }

    #[test]
    fn lost_foreign_and_reordered_are_reported() {
        let l = ledger(&[
            r#"{"c":"a","t":"msg","p":"ORDERS:7"}"#,
            r#"{"c":"a","t":"msg","p":"ORDERS:4"}"#,
            r#"{"c":"a","t":"reconnecting"}"#,
            r#"{"c":"a","t":"resumed","r":{"status":"ok"}}"#,
        ]);
        let v = l.verdict("a", &BTreeSet::from([4, 5]));
        assert_eq!(v.lost, vec![5]);
        assert_eq!(v.foreign, vec![7]);
        assert_eq!(v.out_of_order, 1);
        assert!(!v.is_exact());
        assert_eq!(l.client("a").reconnects, 1);
        assert_eq!(l.client("a").resumes.len(), 1);
    }

    #[test]
    fn garbage_lines_are_errors() {
        assert!(
            Ledger::default()
                .record("not json", Instant::now())
                .is_err()
        );
    }
}
