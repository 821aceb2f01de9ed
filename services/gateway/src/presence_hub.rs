//! The presence hub methods, for admins only: `WatchPresence()` (the list, then every change, as
//! `PresenceChanged` messages), `UnwatchPresence()`, and `GetPresence()` (the list once, as the
//! result: `{"customers":[{"customerId","name"}]}`). A customer calling any of them gets the
//! error Completion every admin-only method gives, and never any presence message.
//!
//! A layer of the connection, like `hub` and `resume` (the state it reads is in
//! [`crate::presence`], below the connections).

use crate::connection::{Flow, Session};
use crate::transport::Transport;

use crate::presence::watchers::CustomerEntry;

/// The presence methods, by their lower-case names.
pub(crate) const METHODS: [&str; 3] = ["watchpresence", "unwatchpresence", "getpresence"];

impl Session {
    /// Answers presence method `method` (one of [`METHODS`]) invoked as `id`.
    pub(crate) async fn presence_method(
        &mut self,
        socket: &mut Transport,
        id: &str,
        method: &str,
    ) -> Flow {
        let protocol = self.identity.protocol;
        if !self.identity.principal.is_admin() {
            let frame = protocol.completion_error(id, "Forbidden: the Admin role is required.");
            return self.reply(socket, frame).await;
        }
        let presence = &self.app.presence;
        let key = self.outbound.member.key;
        let result = match method {
            "watchpresence" => {
                let signal = std::sync::Arc::clone(&self.outbound.member.signal);
                self.outbound.presence = Some(presence.watch(key, protocol, signal));
                None
            }
            "unwatchpresence" => {
                presence.unwatch(key);
                self.outbound.presence = None;
                None
            }
            _ => {
                let everyone = presence.list();
                let customers: Vec<CustomerEntry<'_>> = everyone
                    .iter()
                    .map(|(id, name)| CustomerEntry::new(*id, name))
                    .collect();
                Some(serde_json::json!({ "customers": customers }))
            }
        };
        self.reply(socket, protocol.completion_ok(id, result.as_ref()))
            .await
    }
}
