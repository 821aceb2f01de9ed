//! Resuming: a client that reconnects (to this or any gateway) says where it stopped in each
//! stream and gets what its groups missed since then, in stream order, before anything live.
//!
//! Two ways in. The hub URL's `resume=` parameter is handled right after the handshake, before
//! the connection's first live message, so the client sees the missed events and then live
//! ones with no gap, no duplicate and no reordering: the way to use it. The `Resume(positions)`
//! hub method is kept for clients that cannot change their URL; it arrives after the new
//! connection may already have delivered newer live events, and the missed ones could then
//! only arrive out of order, so for such a stream it answers `reload` instead of sending them.

use std::sync::Arc;

use crate::connection::{Flow, SendFailure, Session};
use crate::history::HistoryError;
use crate::metrics as m;
use crate::protocol::client_methods::ClientMethod;
use crate::protocol::{Position, ResumeResult};
use crate::replay::{self, Missed};
use crate::translate::Delivery;
use crate::transport::{COALESCE_BYTES, Transport};

/// Why a replay stopped.
enum ReplayFailure {
    Send(SendFailure),
    Unavailable(HistoryError),
}

impl Session {
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
            let after = position.sequence.max(self.outbound.progress.resumed_to[i]);
            let upto = self.outbound.progress.live_from[i];
            let missed = replay::missed(
                self.app.feed(stream),
                &self.app.history,
                self.outbound.interest(self.identity.principal.user_id),
                self.identity.protocol,
                after,
                upto,
                self.app.settings.max_replay,
            )
            .await
            .map_err(ReplayFailure::Unavailable)?;
            self.outbound.progress.resumed_to[i] = self.outbound.progress.resumed_to[i].max(upto);
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
                .is_some_and(|e| e.position.sequence <= self.outbound.progress.delivered[i])
            {
                reload.push(stream.as_str());
                continue;
            }
            // The client has everything up to its position (perhaps from a gateway whose feed
            // was ahead of this one's): live events up to it must not come again.
            let delivered = &mut self.outbound.progress.delivered[i];
            *delivered = (*delivered).max(position.sequence);
            self.send_replayed(socket, &events)
                .await
                .map_err(ReplayFailure::Send)?;
            replayed += events.len() as u64;
        }
        metrics::counter!(m::RESUME_REPLAYED_EVENTS).increment(replayed);
        let outcome = if reload.is_empty() { "ok" } else { "reload" };
        metrics::counter!(m::RESUMES, "outcome" => outcome).increment(1);
        Ok(ResumeResult::new(replayed, reload))
    }

    /// Sends replayed events (in stream order, all after anything this connection delivered)
    /// and records them as delivered, so that their live copies still queued are dropped.
    /// Written in batches of about COALESCE_BYTES: a long replay is a few large writes.
    pub(crate) async fn send_replayed(
        &mut self,
        socket: &mut Transport,
        events: &[Arc<Delivery>],
    ) -> Result<(), SendFailure> {
        let mut start = 0;
        while start < events.len() {
            let mut end = start;
            let mut bytes = 0;
            while end < events.len() && (end == start || bytes < COALESCE_BYTES) {
                bytes += events[end].frame.len();
                self.outbound.progress.admit(events[end].position);
                end += 1;
            }
            self.send_deliveries(socket, &events[start..end]).await?;
            start = end;
        }
        self.app.meters.delivered.increment(events.len() as u64);
        Ok(())
    }

    /// The resume the hub URL asked for, right after the handshake: the missed events, then
    /// `Resumed` with the result. If the stream cannot be read now, the connection is closed
    /// with a reconnect hint: the client comes back and tries again, rather than going live
    /// with a gap.
    pub(crate) async fn resume_at_connect(&mut self, socket: &mut Transport) -> Flow {
        let Some(positions) = self.identity.opening.resume.take() else {
            return Flow::Continue;
        };
        match self.replay(socket, positions).await {
            Ok(result) => {
                let frame = ClientMethod::Resumed(result).encode(self.identity.protocol);
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
                let frame = self.identity.protocol.completion_ok(id, Some(&result));
                self.reply(socket, frame).await
            }
            Err(ReplayFailure::Send(failure)) => {
                Flow::Stop(self.on_send_failure(socket, failure).await)
            }
            Err(ReplayFailure::Unavailable(error)) => {
                tracing::warn!(%error, "resume failed");
                metrics::counter!(m::RESUMES, "outcome" => "error").increment(1);
                let frame = self
                    .identity
                    .protocol
                    .completion_error(id, "Resume failed; try again.");
                self.reply(socket, frame).await
            }
        }
    }
}
