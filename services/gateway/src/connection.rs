//! What one logical connection holds, as a [`Session`] of a few parts that change together, and
//! the writes to its current socket that every layer above uses (the socket loop, the hub
//! methods, resume, the connection's life in `session`). Below all of them, so that they call
//! down into it and never around in a circle.

use std::sync::Arc;
use std::time::Instant;

use orderflow_auth::Principal;

use crate::inbound::Inbound;
use crate::liveness::Liveness;
use crate::metrics as m;
use crate::outbound::Outbound;
use crate::protocol::{Frame, Position, Protocol};
use crate::registry::{Attach, ConnectionHandle};
use crate::state::AppState;
use crate::translate::Delivery;
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

/// What handling inbound data asks the socket loop to do.
pub(crate) enum Flow {
    Continue,
    Stop(Outcome),
}

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

/// Who the connection is: fixed once the handshake is done (a re-attach brings a newer token
/// of the same user, so only `principal` is ever replaced).
pub struct Identity {
    /// What the client asked for at the start.
    pub(crate) opening: Opening,
    /// The registry's entry for this connection.
    pub(crate) handle: Arc<ConnectionHandle>,
    /// The authenticated user, with its token's expiry.
    pub(crate) principal: Principal,
    /// The hub protocol chosen in the handshake.
    pub(crate) protocol: Protocol,
}

/// Everything one logical connection owns.
pub struct Session {
    /// The gateway's shared state.
    pub(crate) app: AppState,
    /// Who the connection is.
    pub(crate) identity: Identity,
    /// What the groups deliver to it and how far it has got.
    pub(crate) outbound: Outbound,
    /// Keep-alive and client timeout.
    pub(crate) liveness: Liveness,
    /// The invocation rate limit and the wait for a re-attached client's Sequence.
    pub(crate) inbound: Inbound,
}

impl Session {
    /// Writes one frame with the send timeout; a client that does not read fails it.
    pub(crate) async fn send_raw(
        &mut self,
        socket: &mut Transport,
        frame: Frame,
    ) -> Result<(), SendFailure> {
        match tokio::time::timeout(self.app.settings.send_timeout, socket.send(frame)).await {
            Ok(Ok(())) => {
                self.liveness.sent(Instant::now());
                Ok(())
            }
            Ok(Err(_)) => Err(SendFailure::Socket),
            Err(_) => {
                tracing::info!(connection = %self.identity.opening.connection_id, "send timed out: client is not reading");
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
        if let Some(buffer) = &mut self.outbound.buffer
            && buffer.push(&frame).is_err()
        {
            return Err(SendFailure::BufferFull);
        }
        self.send_raw(socket, frame).await
    }

    /// Writes hub messages as one WebSocket message (the client splits them on the record
    /// separator or the length prefixes; docs/signalr-wire.md), so a burst costs one frame, one
    /// write and one deadline instead of one each per message. Callers keep a batch under
    /// [`COALESCE_BYTES`](crate::transport::COALESCE_BYTES).
    pub(crate) async fn send_deliveries(
        &mut self,
        socket: &mut Transport,
        deliveries: &[Arc<Delivery>],
    ) -> Result<(), SendFailure> {
        if let Some(buffer) = &mut self.outbound.buffer {
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

    /// Sends a Completion (sequenced) and maps failures to the loop's outcome.
    pub(crate) async fn reply(&mut self, socket: &mut Transport, frame: Frame) -> Flow {
        match self.send_sequenced(socket, frame).await {
            Ok(()) => Flow::Continue,
            Err(failure) => Flow::Stop(self.on_send_failure(socket, failure).await),
        }
    }

    /// What a failed write means: a broken socket is lost (a stateful client may re-attach);
    /// a full stateful buffer closes the connection with a hint to reconnect and resume.
    pub(crate) async fn on_send_failure(
        &mut self,
        socket: &mut Transport,
        failure: SendFailure,
    ) -> Outcome {
        match failure {
            SendFailure::Socket => Outcome::Lost,
            SendFailure::BufferFull => {
                metrics::counter!(m::SLOW_CONSUMER_CLOSES).increment(1);
                self.close(
                    socket,
                    Some("Too many unacknowledged messages: reconnect and resume"),
                    true,
                )
                .await
            }
        }
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
            .send_raw(socket, self.identity.protocol.close(error, allow_reconnect))
            .await;
        let _ = tokio::time::timeout(self.app.settings.send_timeout, socket.close()).await;
        Outcome::Ended
    }

    /// Removes the connection from the registry (idempotent).
    pub(crate) fn forget(&self) {
        let identity = &self.identity;
        self.app.registry.remove(
            &identity.opening.connection_id,
            identity.handle.user_id,
            identity.opening.token_expires_at,
        );
    }
}
