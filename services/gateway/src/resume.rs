//! `Resume(positions)`: after an automatic reconnect (to this or any gateway) a client hands
//! back the last position it saw per stream. For each, the events the connection's groups would
//! have received after it are read from the stream with an ephemeral ordered consumer (filtered
//! to the groups' subjects) and sent in order, then live delivery continues.
//!
//! No duplicate: live messages queued meanwhile are dropped when their sequence is at or below
//! what was replayed (the per-stream high-water mark). No gap: the replay runs up to the
//! stream's last sequence at the time of the call (or up to the first live message this
//! connection already got), and live traffic was subscribed before the call. A position older
//! than the stream's first stored sequence, or more than `max_replay` events behind, gets a
//! `reload` answer for that stream instead of a silent gap.

use std::time::Duration;

use async_nats::jetstream::consumer::{DeliverPolicy, pull};
use axum::extract::ws::WebSocket;
use futures::StreamExt;
use serde_json::Value;

use crate::error::GatewayError;
use crate::groups::GroupKey;
use crate::hub::resume_result;
use crate::metrics as m;
use crate::protocol::client_methods::{Position, StreamName};
use crate::protocol::messages::{completion_error, completion_ok};
use crate::session::{SendFailure, Session};
use crate::socket::Flow;
use crate::translate::{Audience, translate};

/// A replay waits at most this long for the next stored message before giving up.
const FETCH_TIMEOUT: Duration = Duration::from_secs(5);

/// `Resume` takes one argument: a position string or an array of them (one per stream).
pub fn parse_positions(arguments: &[Value]) -> Result<Vec<Position>, GatewayError> {
    let [argument] = arguments else {
        return Err(GatewayError::BadPosition);
    };
    let values: Vec<&Value> = match argument {
        Value::Array(items) => items.iter().collect(),
        single => vec![single],
    };
    let mut positions: Vec<Position> = Vec::new();
    for v in values {
        let p: Position = v.as_str().ok_or(GatewayError::BadPosition)?.parse()?;
        // One position per stream; if a client sends several, the latest wins.
        match positions.iter_mut().find(|q| q.stream == p.stream) {
            Some(q) => q.sequence = q.sequence.max(p.sequence),
            None => positions.push(p),
        }
    }
    if positions.is_empty() || positions.len() > StreamName::ALL.len() {
        return Err(GatewayError::BadPosition);
    }
    Ok(positions)
}

enum ReplayError {
    Reload,
    Send(SendFailure),
    Nats(String),
}

impl Session {
    /// The stored subjects this connection's groups cover in `stream`.
    fn replay_subjects(&self, stream: StreamName) -> Vec<String> {
        use orderflow_events::subjects;
        let dashboard = self.groups.contains(&GroupKey::Dashboard);
        match (stream, dashboard) {
            (StreamName::Orders, true) => vec![subjects::ALL_ORDER_EVENTS.to_owned()],
            (StreamName::Orders, false) => vec![subjects::customer_orders(self.principal.user_id)],
            (StreamName::Inventory, true) => vec![subjects::ALL_INVENTORY_EVENTS.to_owned()],
            (StreamName::Inventory, false) => vec![],
        }
    }

    pub(crate) async fn resume(
        &mut self,
        socket: &mut WebSocket,
        id: &str,
        positions: Vec<Position>,
    ) -> Flow {
        metrics::counter!(m::RESUME_REPLAYS).increment(1);
        let mut replayed = 0;
        let mut reload = Vec::new();
        for position in positions {
            let subjects = self.replay_subjects(position.stream);
            if subjects.is_empty() {
                continue;
            }
            match self.replay_stream(socket, position, subjects).await {
                Ok(n) => replayed += n,
                Err(ReplayError::Reload) => reload.push(position.stream.as_str()),
                Err(ReplayError::Send(failure)) => {
                    return Flow::Stop(self.on_send_failure(socket, failure).await);
                }
                Err(ReplayError::Nats(error)) => {
                    tracing::warn!(%error, "resume replay failed");
                    return self
                        .reply(socket, completion_error(id, "Resume failed; try again."))
                        .await;
                }
            }
        }
        metrics::counter!(m::RESUME_REPLAYED_EVENTS).increment(replayed);
        self.reply(
            socket,
            completion_ok(id, Some(&resume_result(replayed, &reload))),
        )
        .await
    }

    async fn replay_stream(
        &mut self,
        socket: &mut WebSocket,
        from: Position,
        subjects: Vec<String>,
    ) -> Result<u64, ReplayError> {
        let nats = |e: &dyn std::fmt::Display| ReplayError::Nats(e.to_string());
        let mut stream = self
            .app
            .jetstream
            .get_stream(from.stream.as_str())
            .await
            .map_err(|e| nats(&e))?;
        let state = stream.info().await.map_err(|e| nats(&e))?.state.clone();
        let i = from.stream as usize;
        // Messages from the first live one on were delivered live already.
        let upper = match self.first_live[i] {
            0 => state.last_sequence,
            first => state.last_sequence.min(first - 1),
        };
        if from.sequence >= upper {
            return Ok(0);
        }
        if from.sequence + 1 < state.first_sequence
            || upper - from.sequence > self.app.settings.max_replay
        {
            return Err(ReplayError::Reload);
        }
        let already = if self.first_live[i] == 0 {
            self.high_water[i]
        } else {
            self.replayed_to[i]
        };
        let config = pull::OrderedConfig {
            filter_subjects: subjects,
            deliver_policy: DeliverPolicy::ByStartSequence {
                start_sequence: from.sequence + 1,
            },
            ..Default::default()
        };
        let consumer = stream.create_consumer(config).await.map_err(|e| nats(&e))?;
        if consumer.cached_info().num_pending == 0 {
            return Ok(0);
        }
        let mut messages = consumer.messages().await.map_err(|e| nats(&e))?;
        let dashboard = self.groups.contains(&GroupKey::Dashboard);
        let mut sent = 0;
        loop {
            let next = tokio::time::timeout(FETCH_TIMEOUT, messages.next()).await;
            let message = match next {
                Ok(Some(Ok(message))) => message,
                Ok(Some(Err(e))) => return Err(nats(&e)),
                Ok(None) | Err(_) => return Err(ReplayError::Nats("replay stalled".into())),
            };
            let (sequence, pending) = match message.info() {
                Ok(info) => (info.stream_sequence, info.pending),
                Err(e) => return Err(nats(&e)),
            };
            if sequence > upper {
                break;
            }
            let position = Position {
                stream: from.stream,
                sequence,
            };
            if sequence > already
                && let Some(delivery) =
                    translate(message.headers.as_ref(), &message.payload, position)
                && (delivery.audience == Audience::CustomerAndDashboard || dashboard)
            {
                self.send_sequenced(socket, delivery.frame.clone())
                    .await
                    .map_err(ReplayError::Send)?;
                metrics::counter!(m::MESSAGES_DELIVERED).increment(1);
                sent += 1;
            }
            if sequence >= upper || pending == 0 {
                break;
            }
        }
        self.high_water[i] = self.high_water[i].max(upper);
        self.replayed_to[i] = self.replayed_to[i].max(upper);
        Ok(sent)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn accepts_a_string_or_an_array() {
        assert_eq!(parse_positions(&[json!("ORDERS:5")]).unwrap().len(), 1);
        let both = parse_positions(&[json!(["ORDERS:5", "INVENTORY:2", "ORDERS:7"])]).unwrap();
        assert_eq!(both.len(), 2);
        assert_eq!(both[0].sequence, 7);
        for bad in [json!([]), json!(5), json!(["ORDERS:x"]), json!(null)] {
            assert!(
                parse_positions(std::slice::from_ref(&bad)).is_err(),
                "{bad}"
            );
        }
        assert!(parse_positions(&[]).is_err());
        assert!(parse_positions(&[json!("ORDERS:1"), json!("ORDERS:2")]).is_err());
    }
}
