//! One logical SignalR connection, from its first socket to its end: the handshake, its groups
//! (`customer:<sub>`, and the admin dashboard when the URL asks for it), the replay of what the
//! client missed when the URL says where it stopped, then sockets one after another: with
//! stateful reconnect a dropped socket is replaced by a re-attach within the grace window, with
//! the same connection id, groups and buffers. Everything is cleaned up in one place at the end.

use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Instant;

use axum::extract::ws::Message;
use orderflow_auth::Principal;
use tokio::sync::mpsc;

use crate::app::AppState;
use crate::groups::{GroupKey, Member};
use crate::metrics as m;
use crate::protocol::handshake::{HandshakeRequest, handshake_error, parse_handshake};
use crate::protocol::{Frame, Position, Protocol};
use crate::registry::{Attach, AttachReceiver, ConnectionHandle};
use crate::resume::Progress;
use crate::socket::Flow;
use crate::stateful::MessageBuffer;
use crate::translate::{Audience, Delivery};
use crate::transport::Transport;

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

/// Messages queued for a connection are written together up to about this many bytes.
pub(crate) const COALESCE_BYTES: usize = 64 * 1024;

/// What a client asked for when it opened the connection: from its token and the hub URL.
#[derive(Debug, Clone, Default)]
pub struct Opening {
    /// The public connection id.
    pub connection_id: String,
    /// When the connection's token stops opening connections (Unix seconds).
    pub token_expires_at: u64,
    /// Stateful reconnect was negotiated (the handshake must also ask for version 2).
    pub stateful: bool,
    /// `resume=…`: replay what was missed after these positions before anything live.
    pub resume: Option<Vec<Position>>,
    /// `dashboard=true`: in the admin dashboard from the start (checked to be an Admin).
    pub dashboard: bool,
}

/// Everything one logical connection owns.
pub struct Session {
    pub(crate) app: AppState,
    pub(crate) key: u64,
    pub(crate) opening: Opening,
    pub(crate) handle: Arc<ConnectionHandle>,
    pub(crate) principal: Principal,
    /// The hub protocol chosen in the handshake.
    pub(crate) protocol: Protocol,
    pub(crate) rx: mpsc::Receiver<Arc<Delivery>>,
    /// The batch being written (kept to reuse its allocation).
    pub(crate) outgoing: Vec<Arc<Delivery>>,
    pub(crate) member: Member,
    pub(crate) groups: Vec<GroupKey>,
    pub(crate) buffer: Option<MessageBuffer>,
    pub(crate) progress: Progress,
    pub(crate) last_sent: Instant,
    pub(crate) last_received: Instant,
    pub(crate) client_pinged: bool,
    /// After a re-attach, inbound frames are discarded until the client's Sequence.
    pub(crate) awaiting_sequence: bool,
    pub(crate) rate_tokens: f64,
    pub(crate) rate_refilled: Instant,
}

/// Runs a connection on its first socket until it ends.
pub async fn run(
    app: AppState,
    handle: Arc<ConnectionHandle>,
    principal: Principal,
    mut socket: Transport,
    opening: Opening,
) {
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
    let mut session = Session {
        key,
        buffer: stateful.then(|| MessageBuffer::new(settings.stateful_buffer_bytes)),
        app: app.clone(),
        opening,
        handle,
        principal,
        protocol,
        rx,
        outgoing: Vec::new(),
        member,
        groups: Vec::new(),
        progress: Progress::default(),
        last_sent: now,
        last_received: now,
        client_pinged: false,
        awaiting_sequence: false,
        rate_tokens: f64::from(settings.invocations_per_second),
        rate_refilled: now,
    };
    metrics::gauge!(m::CONNECTIONS).increment(1.0);
    tracing::debug!(connection = %session.opening.connection_id, user = %session.principal.user_id, stateful, protocol = protocol.name(), "connected");
    // Join before answering the handshake: once the client is connected, its updates flow.
    let mut groups = vec![GroupKey::Customer(session.principal.user_id)];
    if session.opening.dashboard {
        groups.push(GroupKey::Dashboard);
    }
    session.join(&groups);
    if session
        .send_raw(&mut socket, protocol.handshake_ok())
        .await
        .is_ok()
        && let Flow::Continue = Box::pin(session.resume_at_connect(&mut socket)).await
    {
        session.serve(socket, attach_rx).await;
    }
    session.finish();
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
    async fn serve(&mut self, mut socket: Transport, mut attach_rx: Option<AttachReceiver>) {
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
            self.principal = next.principal;
            if self.resend_after_reattach(&mut socket).await.is_err() {
                return;
            }
        }
    }

    /// Sends Sequence and every unacknowledged message, before anything else (docs/signalr-wire.md).
    async fn resend_after_reattach(&mut self, socket: &mut Transport) -> Result<(), SendFailure> {
        let Some(buffer) = &self.buffer else {
            return Ok(());
        };
        let (first, frames) = buffer.replay();
        let frames: Vec<Frame> = frames.cloned().collect();
        tracing::debug!(connection = %self.opening.connection_id, first, resent = frames.len(), "re-attached");
        self.send_raw(socket, self.protocol.sequence(first)).await?;
        for frame in frames {
            self.send_raw(socket, frame).await?;
        }
        self.awaiting_sequence = true;
        self.last_received = Instant::now();
        Ok(())
    }

    /// Joins groups (in memory; cannot fail). Live delivery for them starts after the cursors
    /// the join returns; anything before is what a resume replays.
    pub(crate) fn join(&mut self, keys: &[GroupKey]) {
        let keys: Vec<GroupKey> = keys
            .iter()
            .copied()
            .filter(|k| !self.groups.contains(k))
            .collect();
        if keys.is_empty() {
            return;
        }
        self.progress.live_from = self.app.groups.join(&keys, &self.member);
        self.groups.extend(keys);
    }

    /// Leaves a group.
    pub(crate) fn leave(&mut self, key: GroupKey) {
        if let Some(i) = self.groups.iter().position(|g| *g == key) {
            self.groups.swap_remove(i);
            self.app.groups.leave(key, self.key);
        }
    }

    /// Whether a queued live delivery still applies (it may have been queued just before a
    /// dashboard leave, or replayed already), recording it as delivered.
    pub(crate) fn admit(&mut self, delivery: &Delivery) -> bool {
        if delivery.audience == Audience::Dashboard && !self.groups.contains(&GroupKey::Dashboard) {
            return false;
        }
        self.progress.admit(delivery.position)
    }

    /// Writes one frame with the send timeout; a client that does not read fails it.
    pub(crate) async fn send_raw(
        &mut self,
        socket: &mut Transport,
        frame: Frame,
    ) -> Result<(), SendFailure> {
        match tokio::time::timeout(self.app.settings.send_timeout, socket.send(frame)).await {
            Ok(Ok(())) => {
                self.last_sent = Instant::now();
                Ok(())
            }
            Ok(Err(_)) => Err(SendFailure::Socket),
            Err(_) => {
                tracing::info!(connection = %self.opening.connection_id, "send timed out: client is not reading");
                metrics::counter!(m::SLOW_CONSUMER_CLOSES).increment(1);
                Err(SendFailure::Socket)
            }
        }
    }

    /// Writes a sequenced message (types 1–5), keeping it for re-attach when stateful.
    pub(crate) async fn send_sequenced(
        &mut self,
        socket: &mut Transport,
        frame: Frame,
    ) -> Result<(), SendFailure> {
        if let Some(buffer) = &mut self.buffer
            && buffer.push(&frame).is_err()
        {
            return Err(SendFailure::BufferFull);
        }
        self.send_raw(socket, frame).await
    }

    /// Writes hub messages as one WebSocket message (the client splits them on the record
    /// separator or the length prefixes; docs/signalr-wire.md), so a burst costs one frame, one
    /// write and one deadline instead of one each per message. Callers keep a batch under
    /// [`COALESCE_BYTES`].
    pub(crate) async fn send_deliveries(
        &mut self,
        socket: &mut Transport,
        deliveries: &[Arc<Delivery>],
    ) -> Result<(), SendFailure> {
        if let Some(buffer) = &mut self.buffer {
            for d in deliveries {
                if buffer.push(&d.frame).is_err() {
                    return Err(SendFailure::BufferFull);
                }
            }
        }
        let frame = match deliveries {
            [] => return Ok(()),
            [one] => one.frame.clone(),
            many => Frame::concat(many.iter().map(|d| &d.frame)),
        };
        self.send_raw(socket, frame).await
    }

    /// Sends a Close message and closes the socket. The connection is forgotten first, so a
    /// stateful re-attach after the Close finds nothing (docs/signalr-wire.md).
    pub(crate) async fn close(
        &mut self,
        socket: &mut Transport,
        error: Option<&str>,
        allow_reconnect: bool,
    ) -> Outcome {
        self.forget();
        let _ = self
            .send_raw(socket, self.protocol.close(error, allow_reconnect))
            .await;
        let _ = tokio::time::timeout(self.app.settings.send_timeout, socket.close()).await;
        Outcome::Ended
    }

    /// Removes the connection from the registry (idempotent).
    pub(crate) fn forget(&self) {
        self.app.registry.remove(
            &self.opening.connection_id,
            self.handle.user_id,
            self.opening.token_expires_at,
        );
    }

    fn finish(mut self) {
        for key in std::mem::take(&mut self.groups) {
            self.app.groups.leave(key, self.key);
        }
        self.forget();
        metrics::gauge!(m::CONNECTIONS).decrement(1.0);
        tracing::debug!(connection = %self.opening.connection_id, "disconnected");
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
    /// Resume's JetStream replay) were boxed; this keeps an unboxed addition from creeping back.
    #[test]
    fn a_connection_task_stays_small() {
        let size = future_size(run);
        assert!(size <= 4 * 1024, "session future is {size} bytes");
    }
}
