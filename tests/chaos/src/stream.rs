//! The truth a round is judged against: the `ORDERS` stream as JetStream stored it, read
//! message by message, and what each client should therefore have received.
//!
//! The gateway pushes `OrderStatusChanged` to the order's customer and to the admin dashboard,
//! and `OrderCreated` to the dashboard only; other order events reach no browser. The stream
//! itself is checked too: every order's events must carry versions 1..=n once each, so an event
//! published twice (a relay retry that slipped past JetStream's de-duplication) counts.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::SystemTime;

use anyhow::Context;
use async_nats::jetstream;
use orderflow_events::{AnyEvent, decode_by_schema, headers, timestamp};
use orderflow_scale_out::ledger::{Pushed, expected_positions};

/// One stored order event, reduced to what the verdict needs.
#[derive(Debug, Clone)]
pub struct Stored {
    /// Stream sequence (the `ORDERS:<n>` position).
    pub sequence: u64,
    /// The customer token of the subject `orders.v1.<customer>.<order>.<event>`.
    pub customer: String,
    /// Aggregate id.
    pub order: String,
    /// Aggregate version.
    pub version: u64,
    /// When the change committed in PostgreSQL (the event's `committed_at`).
    pub committed: Option<SystemTime>,
    /// Pushed to the customer's group.
    pub to_customer: bool,
    /// Pushed to the admin dashboard.
    pub to_dashboard: bool,
}

/// Reads every message after sequence `after`.
pub async fn read_orders(js: &jetstream::Context, after: u64) -> anyhow::Result<Vec<Stored>> {
    let stream = js.get_stream("ORDERS").await?;
    let last = stream.get_info().await?.state.last_sequence;
    let mut out = Vec::with_capacity((last.saturating_sub(after)) as usize);
    for sequence in after + 1..=last {
        let raw = stream
            .get_raw_message(sequence)
            .await
            .with_context(|| format!("reading ORDERS:{sequence}"))?;
        let schema = raw
            .headers
            .get(headers::SCHEMA)
            .map(|v| v.as_str().to_owned())
            .unwrap_or_default();
        let event = decode_by_schema(&schema, &raw.payload)
            .with_context(|| format!("decoding ORDERS:{sequence}"))?;
        let (meta, to_customer, to_dashboard) = match event {
            AnyEvent::OrderStatusChanged(e) => (e.metadata, true, true),
            AnyEvent::OrderCreated(e) => (e.metadata, false, true),
            AnyEvent::OrderConfirmed(e) => (e.metadata, false, false),
            AnyEvent::OrderCancelled(e) => (e.metadata, false, false),
            other => anyhow::bail!("unexpected event in ORDERS:{sequence}: {other:?}"),
        };
        let meta = meta.with_context(|| format!("ORDERS:{sequence} without metadata"))?;
        out.push(Stored {
            sequence,
            customer: raw.subject.split('.').nth(2).unwrap_or_default().to_owned(),
            order: meta.aggregate_id,
            version: meta.aggregate_version,
            committed: meta
                .committed_at
                .as_ref()
                .and_then(|t| timestamp::to_offset_date_time(t).ok())
                .map(SystemTime::from),
            to_customer,
            to_dashboard,
        });
    }
    Ok(out)
}

/// The sequences each client should receive: customers by id, and every admin in `admins`
/// everything pushed to the dashboard.
pub fn expected(stored: &[Stored], admins: &[String]) -> BTreeMap<String, BTreeSet<u64>> {
    let pushed = stored.iter().map(|s| Pushed {
        sequence: s.sequence,
        customer: &s.customer,
        to_customer: s.to_customer,
        to_dashboard: s.to_dashboard,
    });
    expected_positions(pushed, admins)
}

/// Commit time by sequence, to measure how long updates took to reach the clients.
pub fn committed(stored: &[Stored]) -> HashMap<u64, SystemTime> {
    stored
        .iter()
        .filter_map(|s| Some((s.sequence, s.committed?)))
        .collect()
}

/// Orders whose events are not exactly versions 1..=n once each (duplicated or missing in the
/// stream itself), with their versions.
pub fn anomalies(stored: &[Stored]) -> Vec<(String, Vec<u64>)> {
    let mut versions: BTreeMap<&str, Vec<u64>> = BTreeMap::new();
    for s in stored {
        versions.entry(&s.order).or_default().push(s.version);
    }
    versions
        .into_iter()
        .filter_map(|(order, mut v)| {
            v.sort_unstable();
            let gapless = v.iter().copied().eq(1..=v.len() as u64);
            (!gapless).then(|| (order.to_owned(), v))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stored(
        sequence: u64,
        customer: &str,
        order: &str,
        version: u64,
        to_customer: bool,
    ) -> Stored {
        Stored {
            sequence,
            customer: customer.into(),
            order: order.into(),
            version,
            committed: None,
            to_customer,
            to_dashboard: true,
        }
    }

    #[test]
    fn customers_get_their_status_changes_and_admins_everything_pushed() {
        let s = [
            stored(1, "c1", "o1", 1, false),
            stored(2, "c1", "o1", 2, true),
            stored(3, "c2", "o2", 1, false),
        ];
        let e = expected(&s, &["admin-0".into()]);
        assert_eq!(e["c1"], BTreeSet::from([2]));
        assert!(!e.contains_key("c2"));
        assert_eq!(e["admin-0"], BTreeSet::from([1, 2, 3]));
        assert!(anomalies(&s).is_empty());
    }

    #[test]
    fn a_version_twice_or_missing_is_an_anomaly() {
        let s = [
            stored(1, "c", "o1", 1, false),
            stored(2, "c", "o1", 1, false),
            stored(3, "c", "o2", 2, true),
        ];
        let a = anomalies(&s);
        assert_eq!(a.len(), 2, "{a:?}");
    }
}
