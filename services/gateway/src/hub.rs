//! The hub methods clients may invoke: `JoinAdminDashboard`, `LeaveAdminDashboard`,
//! `Resume(positions)`, `ReplaySince(timestamp)`, `WatchStock`, `UnwatchStock` and the admins'
//! presence methods (`presence_hub`). Every invocation with an id gets exactly one Completion; id-less ones
//! (`send`) never get a reply. Invocations are rate limited per connection.

use std::time::Instant;

use crate::connection::{Flow, Session};
use crate::groups::GroupKey;
use crate::positions::parse_positions;
use crate::protocol::Invocation;
use crate::transport::Transport;

impl Session {
    /// Answers one invocation of a hub method (the socket loop hands them up here).
    pub(crate) async fn on_invocation(
        &mut self,
        socket: &mut Transport,
        invocation: Invocation,
    ) -> Flow {
        let Invocation {
            invocation_id,
            target,
            arguments,
            stream_ids,
        } = invocation;
        let limited = !self
            .inbound
            .take_rate_token(self.app.settings.invocations_per_second, Instant::now());
        let protocol = self.identity.protocol;
        let Some(id) = invocation_id else {
            // Fire-and-forget calls are not used by this hub; never answer them.
            return Flow::Continue;
        };
        if limited {
            return self
                .reply(
                    socket,
                    protocol.completion_error(&id, "Too many invocations; slow down."),
                )
                .await;
        }
        if !stream_ids.is_empty() {
            return self
                .reply(
                    socket,
                    protocol.completion_error(&id, "Upload streams are not supported."),
                )
                .await;
        }
        // Hub method names are case-insensitive in SignalR.
        match target.to_ascii_lowercase().as_str() {
            "joinadmindashboard" => {
                if !self.identity.principal.is_admin() {
                    return self
                        .reply(
                            socket,
                            protocol
                                .completion_error(&id, "Forbidden: the Admin role is required."),
                        )
                        .await;
                }
                // Live from now on; a client that needs what came before uses `dashboard=true`
                // in its hub URL (joined at connect, resumable) or calls `Resume` next.
                self.outbound.join(&self.app.groups, &[GroupKey::Dashboard]);
                self.reply(socket, protocol.completion_ok(&id, None)).await
            }
            "leaveadmindashboard" => {
                self.outbound.leave(&self.app.groups, GroupKey::Dashboard);
                self.reply(socket, protocol.completion_ok(&id, None)).await
            }
            // Any signed-in user may watch stock levels (the order form does while it is open);
            // only watchers get them, so nobody else pays for every stock change.
            "watchstock" => {
                self.outbound.join(&self.app.groups, &[GroupKey::Stock]);
                self.reply(socket, protocol.completion_ok(&id, None)).await
            }
            "unwatchstock" => {
                self.outbound.leave(&self.app.groups, GroupKey::Stock);
                self.reply(socket, protocol.completion_ok(&id, None)).await
            }
            method if crate::presence_hub::METHODS.contains(&method) => {
                Box::pin(self.presence_method(socket, &id, method)).await
            }
            "resume" => match parse_positions(&arguments) {
                // Boxed: a replay's stream reads are large futures, needed once per reconnect.
                Ok(positions) => Box::pin(self.resume_method(socket, &id, positions)).await,
                Err(error) => {
                    self.reply(socket, protocol.completion_error(&id, &error.to_string()))
                        .await
                }
            },
            // Boxed for the same reason as a resume.
            "replaysince" => Box::pin(self.replay_since_method(socket, &id, &arguments)).await,
            _ => {
                let message = format!(
                    "Method does not exist: '{}'.",
                    target.chars().take(64).collect::<String>()
                );
                self.reply(socket, protocol.completion_error(&id, &message))
                    .await
            }
        }
    }
}
