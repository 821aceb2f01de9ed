//! One logical SignalR connection: from negotiate to its end. It waits for its first socket,
//! runs the handshake, joins `customer:<sub>`, and drives sockets one after another: with
//! stateful reconnect a dropped socket is replaced by a re-attach within the grace window, with
//! the same connection id, groups and buffers. Everything is cleaned up in one place at the end.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use axum::extract::ws::{Message, Utf8Bytes, WebSocket};
use orderflow_auth::Principal;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::app::AppState;
use crate::groups::{GroupKey, Member};
use crate::metrics as m;
use crate::protocol::handshake::{HANDSHAKE_OK, handshake_error, parse_handshake};
use crate::protocol::messages;
use crate::registry::{Attach, AttachReceiver, ConnectionHandle};
use crate::stateful::MessageBuffer;
use crate::translate::{Audience, Delivery};

/// Why a socket stopped being driven.
pub enum Outcome {
    /// The socket went away without a Close message: a stateful connection waits for a re-attach.
    Lost,
    /// The connection is over (Close sent or received, protocol error, drain).
    Ended,
    /// A new socket arrived for this connection: abandon the old one.
    Reattach(Box<Attach>),
}

/// Why a write failed.
#[derive(Debug)]
pub enum SendFailure {
    /// The socket errored or timed out.
    Socket,
    /// The stateful buffer overflowed.
    BufferFull,
}

/// Everything one logical connection owns.
pub struct Session {
    pub(crate) app: AppState,
    pub(crate) key: u64,
    pub(crate) token: String,
    pub(crate) connection_id: String,
    pub(crate) handle: Arc<ConnectionHandle>,
    pub(crate) principal: Principal,
    pub(crate) rx: mpsc::Receiver<Arc<Delivery>>,
    pub(crate) member: Member,
    pub(crate) groups: Vec<GroupKey>,
    pub(crate) buffer: Option<MessageBuffer>,
    /// Highest stream sequence delivered per stream (index = `StreamName as usize`).
    pub(crate) high_water: [u64; 2],
    /// First live sequence delivered per stream, 0 if none yet (bounds a Resume replay).
    pub(crate) first_live: [u64; 2],
    /// Highest sequence a Resume replayed per stream (a second Resume never repeats it).
    pub(crate) replayed_to: [u64; 2],
    pub(crate) last_sent: Instant,
    pub(crate) last_received: Instant,
    pub(crate) client_pinged: bool,
    /// After a re-attach, inbound frames are discarded until the client's Sequence.
    pub(crate) awaiting_sequence: bool,
    pub(crate) rate_tokens: f64,
    pub(crate) rate_refilled: Instant,
}

/// Runs a connection negotiated by `principal` until it ends.
pub async fn run(
    app: AppState,
    handle: Arc<ConnectionHandle>,
    token: String,
    connection_id: String,
    principal: Principal,
    mut attach_rx: AttachReceiver,
    stateful_negotiated: bool,
) {
    let settings = &app.settings;
    let first = tokio::select! {
        a = tokio::time::timeout(settings.handshake_timeout, attach_rx.recv()) => a.ok().flatten(),
        () = app.shutdown.cancelled() => None,
    };
    let Some(Attach {
        mut socket,
        principal: socket_principal,
    }) = first.map(|a| *a)
    else {
        app.registry.remove(&token, handle.user_id);
        return;
    };
    let Some(version) = read_handshake(&app, &mut socket).await else {
        app.registry.remove(&token, handle.user_id);
        return;
    };
    let stateful = stateful_negotiated && version >= 2;
    handle.stateful.store(stateful, Ordering::Release);
    let (tx, rx) = mpsc::channel(settings.outbound_queue);
    let member = Member {
        tx,
        in_dashboard: Arc::new(AtomicBool::new(false)),
        slow: CancellationToken::new(),
    };
    let now = Instant::now();
    let mut session = Session {
        key: app.next_key(),
        buffer: stateful.then(|| MessageBuffer::new(settings.stateful_buffer_bytes)),
        app: app.clone(),
        token,
        connection_id,
        handle,
        principal: if socket_principal.user_id == principal.user_id {
            socket_principal
        } else {
            principal
        },
        rx,
        member,
        groups: Vec::new(),
        high_water: [0; 2],
        first_live: [0; 2],
        replayed_to: [0; 2],
        last_sent: now,
        last_received: now,
        client_pinged: false,
        awaiting_sequence: false,
        rate_tokens: f64::from(settings.invocations_per_second),
        rate_refilled: now,
    };
    metrics::gauge!(m::CONNECTIONS).increment(1.0);
    tracing::debug!(connection = %session.connection_id, user = %session.principal.user_id, stateful, "connected");
    // Join before answering the handshake: once the client is connected, its updates flow.
    let customer = GroupKey::Customer(session.principal.user_id);
    if !session.join(customer).await {
        let error = handshake_error("The server could not subscribe to your updates.");
        let _ = socket.send(Message::Text(error.into())).await;
    } else if session
        .send_raw(&mut socket, Utf8Bytes::from_static(HANDSHAKE_OK))
        .await
        .is_ok()
    {
        session.serve(socket, attach_rx).await;
    }
    session.finish().await;
}

/// Reads the handshake request; a bad one is answered with an error and `None`. The success
/// answer is sent by the caller, alone in its frame (spec §6.7), once the connection is set up.
async fn read_handshake(app: &AppState, socket: &mut WebSocket) -> Option<u32> {
    let first = tokio::time::timeout(
        app.settings.handshake_timeout,
        futures::StreamExt::next(socket),
    )
    .await;
    let text = match first {
        Ok(Some(Ok(Message::Text(text)))) => text,
        _ => return None,
    };
    match parse_handshake(text.as_str()) {
        Ok(request) => Some(request.version),
        Err(error) => {
            let _ = socket
                .send(Message::Text(handshake_error(&error.to_string()).into()))
                .await;
            let _ = socket.send(Message::Close(None)).await;
            None
        }
    }
}

impl Session {
    /// Drives sockets until the connection ends, re-attaching within the grace window.
    async fn serve(&mut self, mut socket: WebSocket, mut attach_rx: AttachReceiver) {
        loop {
            let outcome = self.drive(&mut socket, &mut attach_rx).await;
            let next = match outcome {
                Outcome::Ended => return,
                Outcome::Reattach(attach) => attach,
                Outcome::Lost if self.buffer.is_none() => return,
                Outcome::Lost => {
                    drop(socket);
                    let grace = self.app.settings.reconnect_grace;
                    let waited = tokio::select! {
                        a = tokio::time::timeout(grace, attach_rx.recv()) => a.ok().flatten(),
                        () = self.app.shutdown.cancelled() => None,
                    };
                    match waited {
                        Some(attach) => attach,
                        None => return,
                    }
                }
            };
            socket = next.socket;
            self.principal = next.principal;
            if self.resend_after_reattach(&mut socket).await.is_err() {
                return;
            }
        }
    }

    /// Sends Sequence and every unacknowledged message, before anything else (spec §6.5).
    async fn resend_after_reattach(&mut self, socket: &mut WebSocket) -> Result<(), SendFailure> {
        let Some(buffer) = &self.buffer else {
            return Ok(());
        };
        let (first, frames) = buffer.replay();
        let frames: Vec<Utf8Bytes> = frames.cloned().collect();
        tracing::debug!(connection = %self.connection_id, first, resent = frames.len(), "re-attached");
        self.send_raw(socket, messages::sequence(first).into())
            .await?;
        for frame in frames {
            self.send_raw(socket, frame).await?;
        }
        self.awaiting_sequence = true;
        self.last_received = Instant::now();
        Ok(())
    }

    /// Joins a group; `false` if NATS refused the subscription.
    pub(crate) async fn join(&mut self, key: GroupKey) -> bool {
        if self.groups.contains(&key) {
            return true;
        }
        if key == GroupKey::Dashboard {
            self.member.in_dashboard.store(true, Ordering::Release);
        }
        match self
            .app
            .groups
            .join(key, self.key, self.member.clone())
            .await
        {
            Ok(()) => {
                self.groups.push(key);
                true
            }
            Err(error) => {
                tracing::error!(%error, "group subscription failed");
                if key == GroupKey::Dashboard {
                    self.member.in_dashboard.store(false, Ordering::Release);
                }
                false
            }
        }
    }

    /// Leaves a group.
    pub(crate) async fn leave(&mut self, key: GroupKey) {
        if let Some(i) = self.groups.iter().position(|g| *g == key) {
            self.groups.swap_remove(i);
            self.app.groups.leave(key, self.key).await;
            if key == GroupKey::Dashboard {
                self.member.in_dashboard.store(false, Ordering::Release);
            }
        }
    }

    /// Whether a queued live delivery still applies, updating the per-stream high-water mark.
    pub(crate) fn admit(&mut self, delivery: &Delivery) -> bool {
        if delivery.audience == Audience::Dashboard && !self.groups.contains(&GroupKey::Dashboard) {
            return false;
        }
        let i = delivery.position.stream as usize;
        if delivery.position.sequence <= self.high_water[i] {
            return false;
        }
        self.high_water[i] = delivery.position.sequence;
        if self.first_live[i] == 0 {
            self.first_live[i] = delivery.position.sequence;
        }
        true
    }

    /// Writes one frame with the send timeout; a client that does not read fails it.
    pub(crate) async fn send_raw(
        &mut self,
        socket: &mut WebSocket,
        frame: Utf8Bytes,
    ) -> Result<(), SendFailure> {
        match tokio::time::timeout(
            self.app.settings.send_timeout,
            socket.send(Message::Text(frame)),
        )
        .await
        {
            Ok(Ok(())) => {
                self.last_sent = Instant::now();
                Ok(())
            }
            Ok(Err(_)) => Err(SendFailure::Socket),
            Err(_) => {
                tracing::info!(connection = %self.connection_id, "send timed out: client is not reading");
                metrics::counter!(m::SLOW_CONSUMER_CLOSES).increment(1);
                Err(SendFailure::Socket)
            }
        }
    }

    /// Writes a sequenced message (types 1–5), keeping it for re-attach when stateful.
    pub(crate) async fn send_sequenced(
        &mut self,
        socket: &mut WebSocket,
        frame: Utf8Bytes,
    ) -> Result<(), SendFailure> {
        if let Some(buffer) = &mut self.buffer
            && buffer.push(&frame).is_err()
        {
            return Err(SendFailure::BufferFull);
        }
        self.send_raw(socket, frame).await
    }

    /// Sends a Close message (invalidating the token first, spec §4.6) and closes the socket.
    pub(crate) async fn close(
        &mut self,
        socket: &mut WebSocket,
        error: Option<&str>,
        allow_reconnect: bool,
    ) -> Outcome {
        self.app.registry.invalidate(&self.token);
        let _ = self
            .send_raw(socket, messages::close(error, allow_reconnect).into())
            .await;
        let _ = tokio::time::timeout(
            self.app.settings.send_timeout,
            socket.send(Message::Close(None)),
        )
        .await;
        Outcome::Ended
    }

    async fn finish(mut self) {
        for key in std::mem::take(&mut self.groups) {
            self.app.groups.leave(key, self.key).await;
        }
        self.app.registry.remove(&self.token, self.handle.user_id);
        metrics::gauge!(m::CONNECTIONS).decrement(1.0);
        tracing::debug!(connection = %self.connection_id, "disconnected");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The size of the future an async fn returns, from the fn item alone.
    fn future_size<F, A, B, C, D, E, G, H, Fut>(_: F) -> usize
    where
        F: FnOnce(A, B, C, D, E, G, H) -> Fut,
    {
        std::mem::size_of::<Fut>()
    }

    /// Every connection's task is this future, allocated for the connection's whole life, so
    /// its size is memory per idle connection. It was 13 KiB before rare paths (invocations,
    /// Resume's JetStream replay) were boxed; this keeps an unboxed addition from creeping back.
    #[test]
    fn a_connection_task_stays_small() {
        let size = future_size(run);
        assert!(size <= 4 * 1024, "session future is {size} bytes");
    }
}
