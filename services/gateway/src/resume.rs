//! Resuming: a client that reconnects (to this or any gateway) says where it stopped in each
//! stream and gets what its groups missed since then, in stream order, before anything live.
//!
//! Two ways in. The hub URL's `resume=` parameter is handled right after the handshake, before
//! the connection's first live message, so the client sees the missed events and then live
//! ones with no gap, no duplicate and no reordering: the way to use it. The `Resume(positions)`
//! hub method is kept for clients that cannot change their URL; it arrives after the new
//! connection may already have delivered newer live events, and the missed ones could then
//! only arrive out of order, so for such a stream it answers `reload` instead of sending them.

use serde_json::Value;

use crate::error::GatewayError;
use crate::groups::{Cursors, GroupKey};
use crate::history::HistoryError;
use crate::metrics as m;
use crate::protocol::client_methods::ClientMethod;
use crate::protocol::{Position, ResumeResult};
use crate::replay::{self, Missed};
use crate::session::{COALESCE_BYTES, SendFailure, Session};
use crate::socket::Flow;
use crate::stored::Interest;
use crate::transport::Transport;

/// Per stream (index `StreamName as usize`), how far this connection has got.
#[derive(Debug, Default, Clone)]
pub struct Progress {
    /// Highest sequence delivered, live or replayed.
    pub delivered: [u64; 2],
    /// Highest sequence a resume has covered; a second resume never repeats it.
    pub resumed_to: [u64; 2],
    /// Live delivery brings everything after these sequences (set by the latest group join).
    pub live_from: Cursors,
}

impl Progress {
    /// Records a delivery; `false` if this position (or a later one) was delivered already.
    pub fn admit(&mut self, position: Position) -> bool {
        let delivered = &mut self.delivered[position.stream as usize];
        if position.sequence <= *delivered {
            return false;
        }
        *delivered = position.sequence;
        true
    }
}

/// The positions of the hub URL's `resume` parameter: `ORDERS:12,INVENTORY:3`.
pub fn parse_position_list(raw: &str) -> Result<Vec<Position>, GatewayError> {
    merge(raw.split(',').map(|p| p.trim().parse()))
}

/// `Resume` takes one argument: a position string or an array of them (one per stream).
pub fn parse_positions(arguments: &[Value]) -> Result<Vec<Position>, GatewayError> {
    let [argument] = arguments else {
        return Err(GatewayError::BadPosition);
    };
    let values: Vec<&Value> = match argument {
        Value::Array(items) => items.iter().collect(),
        single => vec![single],
    };
    merge(
        values
            .into_iter()
            .map(|v| v.as_str().ok_or(GatewayError::BadPosition)?.parse()),
    )
}

/// One position per stream; when a client sends several, the latest wins.
fn merge(
    parsed: impl Iterator<Item = Result<Position, GatewayError>>,
) -> Result<Vec<Position>, GatewayError> {
    let mut positions: Vec<Position> = Vec::new();
    for p in parsed {
        let p = p?;
        match positions.iter_mut().find(|q| q.stream == p.stream) {
            Some(q) => q.sequence = q.sequence.max(p.sequence),
            None => positions.push(p),
        }
    }
    if positions.is_empty() {
        return Err(GatewayError::BadPosition);
    }
    Ok(positions)
}

/// Why a replay stopped.
enum ReplayFailure {
    Send(SendFailure),
    Unavailable(HistoryError),
}

impl Session {
    fn interest(&self) -> Interest {
        if self.groups.contains(&GroupKey::Dashboard) {
            Interest::Dashboard
        } else {
            Interest::Customer(self.principal.user_id)
        }
    }

    /// Sends what the connection's groups missed after `positions`, stream by stream.
    async fn replay(
        &mut self,
        socket: &mut Transport,
        positions: Vec<Position>,
    ) -> Result<ResumeResult, ReplayFailure> {
        let mut replayed = 0;
        let mut reload = Vec::new();
        for position in positions {
            let stream = position.stream;
            let i = stream as usize;
            let after = position.sequence.max(self.progress.resumed_to[i]);
            let upto = self.progress.live_from[i];
            let missed = replay::missed(
                self.app.feed(stream),
                &self.app.history,
                self.interest(),
                self.protocol,
                after,
                upto,
                self.app.settings.max_replay,
            )
            .await
            .map_err(ReplayFailure::Unavailable)?;
            self.progress.resumed_to[i] = self.progress.resumed_to[i].max(upto);
            let events = match missed {
                Missed::Events(events) => events,
                Missed::Reload => {
                    reload.push(stream.as_str());
                    continue;
                }
            };
            // Something newer already went out live: these would arrive out of order.
            if events
                .first()
                .is_some_and(|e| e.position.sequence <= self.progress.delivered[i])
            {
                reload.push(stream.as_str());
                continue;
            }
            // The client has everything up to its position (perhaps from a gateway whose feed
            // was ahead of this one's): live events up to it must not come again.
            let delivered = &mut self.progress.delivered[i];
            *delivered = (*delivered).max(position.sequence);
            // Written in batches of about COALESCE_BYTES: a long replay is a few large writes.
            let mut start = 0;
            while start < events.len() {
                let mut end = start;
                let mut bytes = 0;
                while end < events.len() && (end == start || bytes < COALESCE_BYTES) {
                    bytes += events[end].frame.len();
                    self.progress.admit(events[end].position);
                    end += 1;
                }
                self.send_deliveries(socket, &events[start..end])
                    .await
                    .map_err(ReplayFailure::Send)?;
                start = end;
            }
            self.app.meters.delivered.increment(events.len() as u64);
            replayed += events.len() as u64;
        }
        metrics::counter!(m::RESUME_REPLAYED_EVENTS).increment(replayed);
        let outcome = if reload.is_empty() { "ok" } else { "reload" };
        metrics::counter!(m::RESUMES, "outcome" => outcome).increment(1);
        Ok(ResumeResult::new(replayed, reload))
    }

    /// The resume the hub URL asked for, right after the handshake: the missed events, then
    /// `Resumed` with the result. If the stream cannot be read now, the connection is closed
    /// with a reconnect hint: the client comes back and tries again, rather than going live
    /// with a gap.
    pub(crate) async fn resume_at_connect(&mut self, socket: &mut Transport) -> Flow {
        let Some(positions) = self.opening.resume.take() else {
            return Flow::Continue;
        };
        match self.replay(socket, positions).await {
            Ok(result) => {
                let frame = ClientMethod::Resumed(result).encode(self.protocol);
                self.reply(socket, frame).await
            }
            Err(ReplayFailure::Send(failure)) => {
                Flow::Stop(self.on_send_failure(socket, failure).await)
            }
            Err(ReplayFailure::Unavailable(error)) => {
                tracing::warn!(%error, "resume at connect failed");
                metrics::counter!(m::RESUMES, "outcome" => "error").increment(1);
                let reason = "Resume failed: reconnect and try again";
                Flow::Stop(self.close(socket, Some(reason), true).await)
            }
        }
    }

    /// The `Resume(positions)` hub method.
    pub(crate) async fn resume_method(
        &mut self,
        socket: &mut Transport,
        id: &str,
        positions: Vec<Position>,
    ) -> Flow {
        match self.replay(socket, positions).await {
            Ok(result) => {
                let result = serde_json::to_value(result).unwrap_or_default();
                let frame = self.protocol.completion_ok(id, Some(&result));
                self.reply(socket, frame).await
            }
            Err(ReplayFailure::Send(failure)) => {
                Flow::Stop(self.on_send_failure(socket, failure).await)
            }
            Err(ReplayFailure::Unavailable(error)) => {
                tracing::warn!(%error, "resume failed");
                metrics::counter!(m::RESUMES, "outcome" => "error").increment(1);
                let frame = self
                    .protocol
                    .completion_error(id, "Resume failed; try again.");
                self.reply(socket, frame).await
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::StreamName;
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

    #[test]
    fn parses_the_url_list() {
        let both = parse_position_list("ORDERS:12, INVENTORY:3").unwrap();
        assert_eq!(both.len(), 2);
        assert_eq!(both[1].stream, StreamName::Inventory);
        for bad in ["", "ORDERS", "ORDERS:1,,", "ORDERS:-1", "FOO:1"] {
            assert!(parse_position_list(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn progress_never_goes_back() {
        let mut p = Progress::default();
        let at = |sequence| Position {
            stream: StreamName::Orders,
            sequence,
        };
        assert!(p.admit(at(5)));
        assert!(!p.admit(at(5)));
        assert!(!p.admit(at(4)));
        assert!(p.admit(at(6)));
    }
}
