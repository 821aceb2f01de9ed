//! The hub methods clients may invoke: `JoinAdminDashboard`, `LeaveAdminDashboard` and
//! `Resume(positions)`. Every invocation with an id gets exactly one Completion; id-less ones
//! (`send`) never get a reply. Invocations are rate limited per connection.

use std::time::Instant;

use axum::extract::ws::WebSocket;
use serde_json::{Value, json};

use crate::groups::GroupKey;
use crate::protocol::messages::{completion_error, completion_ok};
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
        socket: &mut WebSocket,
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
                    completion_error(&id, "Too many invocations; slow down."),
                )
                .await;
        }
        if has_streams {
            return self
                .reply(
                    socket,
                    completion_error(&id, "Upload streams are not supported."),
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
                            completion_error(&id, "Forbidden: the Admin role is required."),
                        )
                        .await;
                }
                if self.join(GroupKey::Dashboard).await {
                    self.reply(socket, completion_ok(&id, None)).await
                } else {
                    self.reply(
                        socket,
                        completion_error(&id, "Could not join the dashboard; try again."),
                    )
                    .await
                }
            }
            "leaveadmindashboard" => {
                self.leave(GroupKey::Dashboard).await;
                self.reply(socket, completion_ok(&id, None)).await
            }
            "resume" => match crate::resume::parse_positions(&arguments) {
                // Boxed: the replay's JetStream futures are ~9 KiB, needed once per reconnect.
                Ok(positions) => Box::pin(self.resume(socket, &id, positions)).await,
                Err(error) => {
                    self.reply(socket, completion_error(&id, &error.to_string()))
                        .await
                }
            },
            _ => {
                let message = format!(
                    "Method does not exist: '{}'.",
                    target.chars().take(64).collect::<String>()
                );
                self.reply(socket, completion_error(&id, &message)).await
            }
        }
    }
}

/// The result of a `Resume` call: `{"status":"ok","replayed":n}` or, when some stream no longer
/// holds the position, `{"status":"reload","streams":["ORDERS"],"replayed":n}`: the client must
/// reload its state from the REST APIs for those streams (other streams were replayed).
pub fn resume_result(replayed: u64, reload: &[&str]) -> Value {
    if reload.is_empty() {
        json!({ "status": "ok", "replayed": replayed })
    } else {
        json!({ "status": "reload", "streams": reload, "replayed": replayed })
    }
}
