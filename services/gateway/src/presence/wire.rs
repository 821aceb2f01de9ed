//! What gateways tell each other about who is connected, over core NATS (not JetStream:
//! presence is current state, rebuilt from snapshots, never replayed). Each gateway publishes on
//! `presence.v1.<gateway-id>` and listens on `presence.v1.*`; a gateway that finds its copy of a
//! peer out of date asks that peer for a snapshot on `presence.v1.<peer-id>.sync`.
//! Messages are small JSON objects (docs/architecture.md, "Streams, subjects, headers,
//! consumers"):
//!
//! - `hello`: a gateway started (with its heartbeat interval); every peer answers with its
//!   snapshot at its next flush.
//! - `delta`: the net joins and leaves of one flush interval (numbered: `seq`).
//! - `heartbeat`: every heartbeat interval, the last `seq`, the number of customers and the
//!   interval itself, so a peer that missed a delta notices and asks for a snapshot; and the
//!   sign of life whose absence for three intervals makes peers forget this gateway's customers.
//! - `snapshot`: everyone connected here, in parts of at most [`SNAPSHOT_PART`] customers.
//! - `bye`: the gateway drains; peers forget its customers at once.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// Customers per snapshot part: about 60 KiB, well under NATS's 1 MiB message limit.
pub const SNAPSHOT_PART: usize = 1000;

/// Prefix of every presence subject.
const PREFIX: &str = "presence.v1.";

/// Where gateway `id` publishes.
pub fn subject(id: &str) -> String {
    format!("{PREFIX}{id}")
}

/// What every gateway subscribes to: every gateway's presence messages.
pub const ALL: &str = "presence.v1.*";

/// Where gateway `id` is asked for its snapshot.
pub fn sync_subject(id: &str) -> String {
    format!("{PREFIX}{id}.sync")
}

/// The gateway id of a subject from [`ALL`].
pub fn gateway_of(subject: &str) -> Option<&str> {
    subject.strip_prefix(PREFIX).filter(|id| !id.contains('.'))
}

/// A customer on the wire: `[id, name]`.
pub type WireCustomer = (Uuid, String);

/// One presence message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Message {
    /// A gateway started; it heartbeats every `interval_ms`.
    Hello { interval_ms: u64 },
    /// Net changes of one flush interval.
    Delta {
        seq: u64,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        joined: Vec<WireCustomer>,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        left: Vec<Uuid>,
    },
    /// Sign of life: the last delta's `seq`, how many customers are connected, and the
    /// heartbeat interval (peers forget this gateway after three of them without a message).
    Heartbeat {
        seq: u64,
        count: usize,
        interval_ms: u64,
    },
    /// Part `part` (from 0) of `parts` of everyone connected, as of delta `seq`.
    Snapshot {
        seq: u64,
        part: usize,
        parts: usize,
        customers: Vec<WireCustomer>,
    },
    /// The gateway drains.
    Bye,
}

impl Message {
    /// The JSON body.
    pub fn encode(&self) -> Vec<u8> {
        serde_json::to_vec(self).unwrap_or_default()
    }

    /// Parses a body; `None` for anything else (a newer version's message, garbage).
    pub fn decode(body: &[u8]) -> Option<Message> {
        serde_json::from_slice(body).ok()
    }
}

/// A snapshot of `customers` at `seq`, in parts (at least one, so an empty gateway says so).
pub fn snapshot(seq: u64, customers: Vec<WireCustomer>) -> Vec<Message> {
    let parts = customers.len().div_ceil(SNAPSHOT_PART).max(1);
    let mut chunks = customers.chunks(SNAPSHOT_PART).map(<[_]>::to_vec);
    (0..parts)
        .map(|part| Message::Snapshot {
            seq,
            part,
            parts,
            customers: chunks.next().unwrap_or_default(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subjects_name_the_gateway() {
        assert_eq!(subject("g1"), "presence.v1.g1");
        assert_eq!(gateway_of("presence.v1.g1"), Some("g1"));
        assert_eq!(gateway_of("presence.v1.g1.sync"), None);
        assert_eq!(gateway_of("orders.v1.x"), None);
        assert_eq!(sync_subject("g1"), "presence.v1.g1.sync");
    }

    #[test]
    fn messages_are_compact_json() {
        let id = Uuid::nil();
        let delta = Message::Delta {
            seq: 3,
            joined: vec![(id, "Ada".into())],
            left: vec![],
        };
        let text = String::from_utf8(delta.encode()).unwrap();
        assert_eq!(
            text,
            r#"{"kind":"delta","seq":3,"joined":[["00000000-0000-0000-0000-000000000000","Ada"]]}"#
        );
        assert_eq!(Message::decode(text.as_bytes()), Some(delta));
        assert_eq!(Message::decode(b"{\"kind\":\"nope\"}"), None);
        assert_eq!(Message::decode(br#"{"kind":"bye"}"#), Some(Message::Bye));
    }

    #[test]
    fn snapshots_come_in_bounded_parts() {
        let customers: Vec<WireCustomer> =
            (0..2500).map(|_| (Uuid::new_v4(), "C".into())).collect();
        let parts = snapshot(7, customers);
        assert_eq!(parts.len(), 3);
        let sizes: Vec<usize> = parts
            .iter()
            .map(|m| match m {
                Message::Snapshot {
                    customers,
                    parts,
                    seq,
                    ..
                } => {
                    assert_eq!((*parts, *seq), (3, 7));
                    customers.len()
                }
                _ => unreachable!(),
            })
            .collect();
        assert_eq!(sizes, [1000, 1000, 500]);
        assert_eq!(snapshot(0, vec![]).len(), 1, "an empty gateway says so");
    }
}
