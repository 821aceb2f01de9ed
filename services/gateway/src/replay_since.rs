//! `ReplaySince(timestamp)`: the admin dashboard "since 09:00". The connection joins the
//! dashboard (if it has not yet) and gets, per stream, the dashboard's events from the first one
//! stored at or after the timestamp up to where its live delivery starts, in stream order,
//! through the same window-then-stream reads as a resume; then the Completion; then live events.
//! Live events that arrive meanwhile wait in the connection's queue and follow the Completion,
//! and the per-connection high-water mark drops any copy of a replayed one: no gap, no
//! duplicate.
//!
//! Bounded: at most `GATEWAY_MAX_REPLAY_SINCE` stream messages per stream, the latest ones
//! (status `truncated`), so an early timestamp costs no more than a recent one. A stream on
//! which this connection already delivered something at or after the start is not replayed
//! (status `reload`): its events could only arrive out of order. Customers are refused: the
//! method exists for the dashboard, and customers resume by position.

use time::OffsetDateTime;

use crate::connection::{Flow, SendFailure, Session};
use crate::groups::GroupKey;
use crate::history::HistoryError;
use crate::protocol::StreamName;
use crate::replay::{self, Missed};
use crate::since::{Plan, SinceResult, parse_since, plan};
use crate::stored::Interest;
use crate::transport::Transport;

/// Why a since-replay stopped before its Completion.
enum Failure {
    Send(SendFailure),
    Unavailable(HistoryError),
}

impl Session {
    /// The `ReplaySince` hub method.
    pub(crate) async fn replay_since_method(
        &mut self,
        socket: &mut Transport,
        id: &str,
        arguments: &[serde_json::Value],
    ) -> Flow {
        let protocol = self.identity.protocol;
        if !self.identity.principal.is_admin() {
            let frame = protocol.completion_error(id, "Forbidden: the Admin role is required.");
            return self.reply(socket, frame).await;
        }
        let since = match parse_since(arguments, OffsetDateTime::now_utc()) {
            Ok(since) => since,
            Err(error) => {
                let frame = protocol.completion_error(id, &error.to_string());
                return self.reply(socket, frame).await;
            }
        };
        // Joined first: everything stored after the join comes live, so the starting points
        // looked up next can only be earlier, never leave a gap between the two.
        self.outbound.join(&self.app.groups, &[GroupKey::Dashboard]);
        match self.replay_since(socket, since).await {
            Ok(result) => {
                let result = serde_json::to_value(result).unwrap_or_default();
                let frame = protocol.completion_ok(id, Some(&result));
                self.reply(socket, frame).await
            }
            Err(Failure::Send(failure)) => Flow::Stop(self.on_send_failure(socket, failure).await),
            Err(Failure::Unavailable(error)) => {
                tracing::warn!(%error, "replay since failed");
                let frame = protocol.completion_error(id, "ReplaySince failed; try again.");
                self.reply(socket, frame).await
            }
        }
    }

    /// Sends each stream's dashboard events since `since`, within the bound.
    async fn replay_since(
        &mut self,
        socket: &mut Transport,
        since: OffsetDateTime,
    ) -> Result<SinceResult, Failure> {
        let (mut replayed, mut truncated, mut reload) = (0, Vec::new(), Vec::new());
        for stream in StreamName::ALL {
            let i = stream as usize;
            let upto = self.outbound.progress.live_from[i];
            let Plan {
                after,
                truncated: cut,
            } = self.plan(stream, since, upto).await?;
            if cut {
                truncated.push(stream.as_str());
            }
            if after >= upto {
                continue;
            }
            // Something of this range or newer already went out: the rest would come late.
            if self.outbound.progress.delivered[i] > after {
                reload.push(stream.as_str());
                continue;
            }
            let missed = replay::missed(
                self.app.feed(stream),
                &self.app.history,
                Interest::Dashboard,
                self.identity.protocol,
                after,
                upto,
                self.app.settings.max_replay_since,
            )
            .await
            .map_err(Failure::Unavailable)?;
            let progress = &mut self.outbound.progress;
            progress.resumed_to[i] = progress.resumed_to[i].max(upto);
            let events = match missed {
                Missed::Events(events) => events,
                // The start was removed by retention while it was read.
                Missed::Reload => {
                    reload.push(stream.as_str());
                    continue;
                }
            };
            self.send_replayed(socket, &events)
                .await
                .map_err(Failure::Send)?;
            replayed += events.len() as u64;
        }
        Ok(SinceResult::new(replayed, truncated, reload))
    }

    /// Where `stream`'s replay starts: one direct get by time, and the stream's bounds when the
    /// start may be its oldest message.
    async fn plan(
        &self,
        stream: StreamName,
        since: OffsetDateTime,
        upto: u64,
    ) -> Result<Plan, Failure> {
        let history = &self.app.history;
        let first = history
            .first_since(stream, since)
            .await
            .map_err(Failure::Unavailable)?;
        let held_first = match first {
            Some(_) => history
                .bounds(stream)
                .await
                .map_err(Failure::Unavailable)?
                .map_or(1, |b| b.first),
            None => 1,
        };
        Ok(plan(
            first,
            held_first,
            upto,
            self.app.settings.max_replay_since,
        ))
    }
}
