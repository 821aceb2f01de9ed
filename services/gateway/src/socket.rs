//! Driving one attached socket: a single task multiplexes inbound frames, the outbound queue,
//! an admin's presence messages, keep-alive pings, stateful acks, the client timeout, token expiry, slow-consumer kicks and
//! drain. One task per connection and no timers when idle beyond one sleep keep idle
//! connections cheap.
//!
//! Inbound data flows up from here: hub invocations go to `hub`. Outbound data comes down from
//! the groups through the connection's queue and is written through [`Session`]'s writes.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::ws::Message;
use tokio::sync::mpsc;
use tokio::time::Instant as TokioInstant;

use crate::connection::{Flow, Outcome, SendFailure, Session};
use crate::error::GatewayError;
use crate::metrics as m;
use crate::protocol::{Frame, HubMessage};
use crate::registry::{Attach, AttachReceiver};
use crate::translate::Delivery;
use crate::transport::Transport;

/// How often a stateful connection acknowledges what it received (the .NET server: 1 s).
const ACK_INTERVAL: Duration = Duration::from_secs(1);

/// The next re-attached socket of a stateful connection; never, for any other.
async fn next_attach(attach_rx: &mut Option<AttachReceiver>) -> Option<Box<Attach>> {
    match attach_rx {
        Some(rx) => rx.recv().await,
        None => std::future::pending().await,
    }
}

/// The next presence message of an admin that watches presence; never, for anyone else.
async fn next_presence(presence: &mut Option<mpsc::Receiver<Frame>>) -> Option<Frame> {
    match presence {
        Some(rx) => rx.recv().await,
        None => std::future::pending().await,
    }
}

impl Session {
    fn next_deadline(&self) -> TokioInstant {
        let s = &self.app.settings;
        let now = Instant::now();
        let mut deadline = self.liveness.deadline(s.keep_alive, s.client_timeout);
        if self
            .outbound
            .buffer
            .as_ref()
            .is_some_and(|b| b.ack_pending())
        {
            deadline = deadline.min(now + ACK_INTERVAL);
        }
        let expiry: std::time::SystemTime = self.identity.principal.expires_at.into();
        match expiry.duration_since(std::time::SystemTime::now()) {
            Ok(left) => deadline = deadline.min(now + left),
            Err(_) => deadline = now,
        }
        TokioInstant::from_std(deadline)
    }

    /// Runs the socket until it is lost, the connection ends, or another socket replaces it.
    pub(crate) async fn drive(
        &mut self,
        socket: &mut Transport,
        attach_rx: &mut Option<AttachReceiver>,
    ) -> Outcome {
        // The drain raises every member's signal; a connection that joined after that sees the
        // drain here.
        if self.app.shutdown.is_cancelled() {
            return self.close(socket, Some("Server shutting down"), true).await;
        }
        let signal = Arc::clone(&self.outbound.member.signal);
        // One timer per socket, not one per turn of the loop (each would register with the
        // timer wheel, which showed in the profile under load).
        let mut armed = self.next_deadline();
        let timer = tokio::time::sleep_until(armed);
        tokio::pin!(timer);
        loop {
            tokio::select! {
                biased;
                () = std::future::poll_fn(|cx| signal.poll_raised(cx)) => {
                    if self.app.shutdown.is_cancelled() {
                        return self.close(socket, Some("Server shutting down"), true).await;
                    }
                    tracing::info!(connection = %self.identity.opening.connection_id, "connection kicked: too slow, or missed events are gone");
                    return self.close(socket, Some("Too slow: reconnect and resume"), true).await;
                }
                Some(attach) = next_attach(attach_rx) => {
                    return Outcome::Reattach(attach);
                }
                frame = socket.next() => {
                    if let Flow::Stop(outcome) = self.on_frame(socket, frame).await {
                        return outcome;
                    }
                    // Inbound traffic can make a deadline earlier (an ack became due, the
                    // client's first ping started its timeout).
                    let next = self.next_deadline();
                    if next < armed {
                        armed = next;
                        timer.as_mut().reset(armed);
                    }
                }
                Some(delivery) = self.outbound.rx.recv() => {
                    // Sending only moves the keep-alive later: the timer may fire early, finds
                    // nothing due and is re-armed. One deadline per connection, not per write.
                    if let Err(failure) = self.deliver_queued(socket, delivery).await {
                        return self.on_send_failure(socket, failure).await;
                    }
                }
                Some(frame) = next_presence(&mut self.outbound.presence) => {
                    if let Err(failure) = self.send_sequenced(socket, frame).await {
                        return self.on_send_failure(socket, failure).await;
                    }
                }
                () = &mut timer => {
                    if let Flow::Stop(outcome) = self.on_timer(socket).await {
                        return outcome;
                    }
                    armed = self.next_deadline();
                    timer.as_mut().reset(armed);
                }
            }
        }
    }

    /// Writes `first` and whatever else is queued already, as one message.
    async fn deliver_queued(
        &mut self,
        socket: &mut Transport,
        first: Arc<Delivery>,
    ) -> Result<(), SendFailure> {
        let batch = self.outbound.take_batch(first);
        let sent = self.send_deliveries(socket, &batch).await;
        if sent.is_ok() {
            let meters = &self.app.meters;
            meters.delivered.increment(batch.len() as u64);
            let now = Instant::now();
            for delivery in &batch {
                meters
                    .latency
                    .record(now.duration_since(delivery.received_at).as_secs_f64());
            }
        }
        self.outbound.recycle(batch);
        sent
    }

    async fn on_timer(&mut self, socket: &mut Transport) -> Flow {
        let now = Instant::now();
        let s = &self.app.settings;
        if self.identity.principal.expires_at <= time::OffsetDateTime::now_utc() {
            return Flow::Stop(self.close(socket, Some("Token expired"), true).await);
        }
        if self.liveness.client_timed_out(now, s.client_timeout) {
            tracing::debug!(connection = %self.identity.opening.connection_id, "client timeout");
            return Flow::Stop(Outcome::Lost);
        }
        let protocol = self.identity.protocol;
        if let Some(sequence_id) = self.outbound.buffer.as_mut().and_then(|b| b.take_ack())
            && self
                .send_raw(socket, protocol.ack(sequence_id))
                .await
                .is_err()
        {
            return Flow::Stop(Outcome::Lost);
        }
        if self.liveness.ping_due(now, self.app.settings.keep_alive)
            && self.send_raw(socket, protocol.ping()).await.is_err()
        {
            return Flow::Stop(Outcome::Lost);
        }
        Flow::Continue
    }

    async fn protocol_error(&mut self, socket: &mut Transport, error: &GatewayError) -> Flow {
        metrics::counter!(m::PROTOCOL_ERRORS).increment(1);
        tracing::info!(connection = %self.identity.opening.connection_id, %error, "protocol error: closing connection");
        Flow::Stop(self.close(socket, Some(&error.to_string()), false).await)
    }

    async fn on_frame(
        &mut self,
        socket: &mut Transport,
        frame: Option<Result<Message, axum::Error>>,
    ) -> Flow {
        let message = match frame {
            None => return Flow::Stop(Outcome::Lost),
            Some(Err(error)) => {
                // tungstenite reports an oversize message as a capacity error; anything else is
                // a broken socket.
                let message = error.to_string();
                if message.contains("Space limit exceeded")
                    || message.contains("too long")
                    || message.contains("Capacity")
                {
                    let e = GatewayError::Malformed(format!(
                        "message larger than {} bytes",
                        self.app.settings.max_message_bytes
                    ));
                    return self.protocol_error(socket, &e).await;
                }
                return Flow::Stop(Outcome::Lost);
            }
            Some(Ok(message @ (Message::Text(_) | Message::Binary(_)))) => message,
            Some(Ok(Message::Close(_))) => return Flow::Stop(Outcome::Lost),
            Some(Ok(Message::Ping(_) | Message::Pong(_))) => {
                self.liveness.received(Instant::now());
                return Flow::Continue;
            }
        };
        self.liveness.received(Instant::now());
        let messages = match self.identity.protocol.parse(&message) {
            Ok(messages) => messages,
            Err(error) => return self.protocol_error(socket, &error).await,
        };
        for message in messages {
            if let Flow::Stop(outcome) = self.on_message(socket, message).await {
                return Flow::Stop(outcome);
            }
        }
        Flow::Continue
    }

    async fn on_message(&mut self, socket: &mut Transport, message: HubMessage) -> Flow {
        if self.inbound.awaiting_sequence {
            // After a re-attach everything before the client's Sequence is stale (docs/signalr-wire.md).
            if let HubMessage::Sequence { sequence_id } = message {
                self.inbound.awaiting_sequence = false;
                if let Some(buffer) = &mut self.outbound.buffer
                    && let Err(error) = buffer.client_sequence(sequence_id)
                {
                    return self.protocol_error(socket, &error).await;
                }
            }
            return Flow::Continue;
        }
        if message.is_sequenced()
            && let Some(buffer) = &mut self.outbound.buffer
            && !buffer.accept_inbound()
        {
            return Flow::Continue;
        }
        match message {
            HubMessage::Ping => {
                self.liveness.client_pinged();
                Flow::Continue
            }
            HubMessage::Close { .. } => {
                // The client leaves on purpose: no grace period.
                self.forget();
                socket.close().await;
                Flow::Stop(Outcome::Ended)
            }
            HubMessage::Ack { sequence_id } => {
                if let Some(buffer) = &mut self.outbound.buffer {
                    buffer.ack(sequence_id);
                }
                Flow::Continue
            }
            HubMessage::Sequence { .. } => Flow::Continue,
            HubMessage::Invocation(invocation) => {
                // Boxed: invocations are rare (join, leave, resume), and their futures would
                // otherwise be part of every idle connection's task.
                Box::pin(self.on_invocation(socket, invocation)).await
            }
            HubMessage::StreamInvocation { invocation_id, .. } => {
                let frame = self
                    .identity
                    .protocol
                    .completion_error(&invocation_id, "Streaming methods are not supported.");
                self.reply(socket, frame).await
            }
            HubMessage::StreamItem { .. }
            | HubMessage::Completion { .. }
            | HubMessage::CancelInvocation { .. }
            | HubMessage::Unknown { .. } => Flow::Continue,
        }
    }
}
