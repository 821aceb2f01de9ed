//! The hub methods clients may invoke: `JoinAdminDashboard`, `LeaveAdminDashboard` and
//! `Resume(positions)`. Every invocation with an id gets exactly one Completion; id-less ones
//! (`send`) never get a reply. Invocations are rate limited per connection.

use std::time::Instant;

use crate::transport::Transport;
use serde_json::Value;

use crate::groups::GroupKey;
use crate::session::Session;
use crate::socket::Flow;

impl Session {
    /// Token bucket: `invocations_per_second` per second, same burst.
    fn take_rate_token(&mut self) -> bool {
        let rate = f64::from(self.app.settings.invocations_per_second);
        let now = Instant::now();
        let refill = now.duration_since(self.rate_refilled).as_secs_f64() * rate;
        self.rate_tokens = (self.rate_tokens + refill).min(rate);
        self.rate_refilled = now;
        if self.rate_tokens >= 1.0 {
            self.rate_tokens -= 1.0;
            true
        } else {
            false
        }
    }

    pub(crate) async fn on_invocation(
        &mut self,
        socket: &mut Transport,
        invocation_id: Option<String>,
        target: &str,
        arguments: Vec<Value>,
        has_streams: bool,
    ) -> Flow {
        let limited = !self.take_rate_token();
        let Some(id) = invocation_id else {
            // Fire-and-forget calls are not used by this hub; never answer them.
            return Flow::Continue;
        };
        if limited {
            return self
                .reply(
                    socket,
                    self.protocol
                        .completion_error(&id, "Too many invocations; slow down."),
                )
                .await;
        }
        if has_streams {
            return self
                .reply(
                    socket,
                    self.protocol
                        .completion_error(&id, "Upload streams are not supported."),
                )
                .await;
        }
        // Hub method names are case-insensitive in SignalR.
        match target.to_ascii_lowercase().as_str() {
            "joinadmindashboard" => {
                if !self.principal.is_admin() {
                    return self
                        .reply(
                            socket,
                            self.protocol
                                .completion_error(&id, "Forbidden: the Admin role is required."),
                        )
                        .await;
                }
                // Live from now on; a client that needs what came before uses `dashboard=true`
                // in its hub URL (joined at connect, resumable) or calls `Resume` next.
                self.join(&[GroupKey::Dashboard]);
                self.reply(socket, self.protocol.completion_ok(&id, None))
                    .await
            }
            "leaveadmindashboard" => {
                self.leave(GroupKey::Dashboard);
                self.reply(socket, self.protocol.completion_ok(&id, None))
                    .await
            }
            "resume" => match crate::resume::parse_positions(&arguments) {
                // Boxed: a replay's stream reads are large futures, needed once per reconnect.
                Ok(positions) => Box::pin(self.resume_method(socket, &id, positions)).await,
                Err(error) => {
                    self.reply(
                        socket,
                        self.protocol.completion_error(&id, &error.to_string()),
                    )
                    .await
                }
            },
            _ => {
                let message = format!(
                    "Method does not exist: '{}'.",
                    target.chars().take(64).collect::<String>()
                );
                self.reply(socket, self.protocol.completion_error(&id, &message))
                    .await
            }
        }
    }
}
