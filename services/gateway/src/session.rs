//! One logical SignalR connection, from its first socket to its end: the handshake, its groups
//! (`customer:<sub>`, and the admin dashboard when the URL asks for it), the replay of what the
//! client missed when the URL says where it stopped, then sockets one after another: with
//! stateful reconnect a dropped socket is replaced by a re-attach within the grace window, with
//! the same connection id, groups and buffers. Everything is cleaned up in one place at the end.
//!
//! The top of a connection's layers: this calls the socket loop (`socket`), which hands the
//! client's invocations to `hub`, which uses `resume`; all of them write through the
//! [`Session`] defined below them in `connection`.

use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Instant;

use axum::extract::ws::Message;
use orderflow_auth::Principal;
use tokio::sync::mpsc;

use crate::connection::{Flow, Identity};
pub use crate::connection::{Opening, Outcome, SendFailure, Session};
use crate::groups::{GroupKey, Member};
use crate::inbound::Inbound;
use crate::liveness::Liveness;
use crate::metrics as m;
use crate::outbound::Outbound;
use crate::protocol::Frame;
use crate::protocol::handshake::{HandshakeRequest, handshake_error, parse_handshake};
use crate::registry::{AttachReceiver, ConnectionHandle};
use crate::state::AppState;
use crate::stateful::MessageBuffer;
use crate::transport::Transport;

/// Runs a connection on its first socket until it ends.
///
/// A plain fn returning an `async move` block, not an `async fn`: an async fn keeps each
/// argument in its future twice, as argument and as the local it is bound to (rust-lang/rust
/// issue 62958), and the 368-byte socket twice in this future and twice in `serve`'s took the
/// connection's task past jemalloc's 4 KiB size class: 5 KiB per connection instead of 4
/// (the test at the end keeps it under).
pub fn run(
    app: AppState,
    handle: Arc<ConnectionHandle>,
    principal: Principal,
    socket: Transport,
    opening: Opening,
) -> impl Future<Output = ()> + Send {
    let mut socket = socket;
    async move {
        let Some(HandshakeRequest { protocol, version }) = read_handshake(&app, &mut socket).await
        else {
            app.registry.remove(
                &opening.connection_id,
                handle.user_id,
                opening.token_expires_at,
            );
            return;
        };
        socket.set_protocol(protocol);
        let settings = &app.settings;
        let stateful = opening.stateful && version >= 2;
        // Only a stateful connection accepts a second socket: give it the channel that brings one.
        let attach_rx = stateful.then(|| {
            let (tx, rx) = mpsc::channel(1);
            let _ = handle.attach.set(tx);
            rx
        });
        let (tx, rx) = mpsc::channel(settings.outbound_queue);
        let key = app.next_key();
        let member = Member {
            key,
            tx,
            protocol,
            in_dashboard: Arc::new(AtomicBool::new(false)),
            signal: Arc::default(),
        };
        let now = Instant::now();
        let buffer = stateful.then(|| MessageBuffer::new(settings.stateful_buffer_bytes));
        let mut session = Session {
            app: app.clone(),
            identity: Identity {
                opening,
                handle,
                principal,
                protocol,
            },
            outbound: Outbound::new(member, rx, buffer),
            liveness: Liveness::new(now),
            inbound: Inbound::new(settings.invocations_per_second, now),
        };
        let identity = &session.identity;
        metrics::gauge!(m::CONNECTIONS).increment(1.0);
        tracing::debug!(connection = %identity.opening.connection_id, user = %identity.principal.user_id, stateful, protocol = protocol.name(), "connected");
        // Join before answering the handshake: once the client is connected, its updates flow.
        let mut groups = vec![GroupKey::Customer(identity.principal.user_id)];
        if identity.opening.dashboard {
            groups.push(GroupKey::Dashboard);
        }
        session.outbound.join(&app.groups, &groups);
        // Presence lists customers; the user id and name are fixed for the connection's life (a
        // re-attach must be the same user), so the same entry is taken off at the end.
        let customer = (!identity.principal.is_admin()).then_some(identity.principal.user_id);
        if let Some(id) = customer {
            app.presence.connected(id, &identity.principal.name);
        }
        if session
            .send_raw(&mut socket, protocol.handshake_ok())
            .await
            .is_ok()
            && let Flow::Continue = Box::pin(session.resume_at_connect(&mut socket)).await
        {
            session.serve(socket, attach_rx).await;
        }
        app.presence.unwatch(key);
        if let Some(id) = customer {
            app.presence.disconnected(id);
        }
        session.finish();
    }
}

/// Reads the handshake request; a bad one is answered with an error and `None`. The success
/// answer is sent by the caller, alone in its frame (docs/signalr-wire.md), once the connection is set up.
/// The request is JSON text in every protocol; MessagePack clients may send it in a binary
/// message.
async fn read_handshake(app: &AppState, socket: &mut Transport) -> Option<HandshakeRequest> {
    let first = tokio::time::timeout(app.settings.handshake_timeout, socket.next()).await;
    let parsed = match first {
        Ok(Some(Ok(Message::Text(text)))) => parse_handshake(text.as_str()),
        Ok(Some(Ok(Message::Binary(data)))) => match std::str::from_utf8(&data) {
            Ok(text) => parse_handshake(text),
            Err(_) => Err(crate::error::GatewayError::Handshake(
                "handshake is not UTF-8 JSON".into(),
            )),
        },
        _ => return None,
    };
    match parsed {
        Ok(request) => Some(request),
        Err(error) => {
            let _ = socket
                .send(Frame::text(handshake_error(&error.to_string())))
                .await;
            socket.close().await;
            None
        }
    }
}

impl Session {
    /// Drives sockets until the connection ends, re-attaching within the grace window.
    /// (Not an `async fn`, for the reason given at [`run`].)
    fn serve(
        &mut self,
        socket: Transport,
        attach_rx: Option<AttachReceiver>,
    ) -> impl Future<Output = ()> + Send + '_ {
        let (mut socket, mut attach_rx) = (socket, attach_rx);
        async move {
            loop {
                let outcome = self.drive(&mut socket, &mut attach_rx).await;
                let next = match outcome {
                    Outcome::Ended => return,
                    Outcome::Reattach(attach) => attach,
                    Outcome::Lost => {
                        let Some(rx) = attach_rx.as_mut() else {
                            return;
                        };
                        drop(socket);
                        let grace = self.app.settings.reconnect_grace;
                        let waited = tokio::select! {
                            a = tokio::time::timeout(grace, rx.recv()) => a.ok().flatten(),
                            () = self.app.shutdown.cancelled() => None,
                        };
                        match waited {
                            Some(attach) => attach,
                            None => return,
                        }
                    }
                };
                socket = Transport::WebSocket(next.socket);
                self.identity.principal = next.principal;
                if self.resend_after_reattach(&mut socket).await.is_err() {
                    return;
                }
            }
        }
    }

    /// Sends Sequence and every unacknowledged message, before anything else (docs/signalr-wire.md).
    async fn resend_after_reattach(&mut self, socket: &mut Transport) -> Result<(), SendFailure> {
        let Some(buffer) = &self.outbound.buffer else {
            return Ok(());
        };
        let (first, frames) = buffer.replay();
        let frames: Vec<Frame> = frames.cloned().collect();
        tracing::debug!(connection = %self.identity.opening.connection_id, first, resent = frames.len(), "re-attached");
        self.send_raw(socket, self.identity.protocol.sequence(first))
            .await?;
        for frame in frames {
            self.send_raw(socket, frame).await?;
        }
        self.inbound.awaiting_sequence = true;
        self.liveness.received(Instant::now());
        Ok(())
    }

    /// The one place a connection is cleaned up, however it ended.
    fn finish(mut self) {
        self.outbound.leave_all(&self.app.groups);
        self.forget();
        metrics::gauge!(m::CONNECTIONS).decrement(1.0);
        tracing::debug!(connection = %self.identity.opening.connection_id, "disconnected");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The size of the future an async fn returns, from the fn item alone.
    fn future_size<F, A, B, C, D, E, Fut>(_: F) -> usize
    where
        F: FnOnce(A, B, C, D, E) -> Fut,
    {
        std::mem::size_of::<Fut>()
    }

    /// Every connection's task is this future, allocated for the connection's whole life, so
    /// its size is memory per idle connection. It was 13 KiB before rare paths (invocations,
    /// Resume's JetStream replay) were boxed. The task holding it adds axum's upgrade wrapper
    /// and tokio's header, about 580 bytes, rounded up to 128: at 3,520 bytes or less the task
    /// fits jemalloc's 4 KiB size class; one byte more and it takes 5 KiB (it did at 3,776).
    #[test]
    fn a_connection_task_stays_small() {
        let size = future_size(run);
        assert!(size <= 3_520, "session future is {size} bytes");
    }
}
