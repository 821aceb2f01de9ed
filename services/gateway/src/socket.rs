//! Driving one attached socket: a single task multiplexes inbound frames, the outbound queue,
//! keep-alive pings, stateful acks, the client timeout, token expiry, slow-consumer kicks and
//! drain. One task per connection and no timers when idle beyond one sleep keep idle
//! connections cheap.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::ws::Message;
use tokio::time::Instant as TokioInstant;

use crate::error::GatewayError;
use crate::metrics as m;
use crate::protocol::{Frame, HubMessage};
use crate::registry::{Attach, AttachReceiver};
use crate::session::{COALESCE_BYTES, Outcome, SendFailure, Session};
use crate::translate::Delivery;
use crate::transport::Transport;

/// How often a stateful connection acknowledges what it received (the .NET server: 1 s).
const ACK_INTERVAL: Duration = Duration::from_secs(1);

/// What handling inbound data asks the loop to do.
pub(crate) enum Flow {
    Continue,
    Stop(Outcome),
}

/// The next re-attached socket of a stateful connection; never, for any other.
async fn next_attach(attach_rx: &mut Option<AttachReceiver>) -> Option<Box<Attach>> {
    match attach_rx {
        Some(rx) => rx.recv().await,
        None => std::future::pending().await,
    }
}

impl Session {
    fn next_deadline(&self) -> TokioInstant {
        let s = &self.app.settings;
        let now = Instant::now();
        let mut deadline = self.last_sent + s.keep_alive;
        if self.client_pinged {
            deadline = deadline.min(self.last_received + s.client_timeout);
        }
        if self.buffer.as_ref().is_some_and(|b| b.ack_pending()) {
            deadline = deadline.min(now + ACK_INTERVAL);
        }
        let expiry: std::time::SystemTime = self.principal.expires_at.into();
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
        let signal = Arc::clone(&self.member.signal);
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
                    tracing::info!(connection = %self.opening.connection_id, "connection kicked: too slow, or missed events are gone");
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
                Some(delivery) = self.rx.recv() => {
                    // Sending only moves the keep-alive later: the timer may fire early, finds
                    // nothing due and is re-armed. One deadline per connection, not per write.
                    if let Err(failure) = self.deliver_queued(socket, delivery).await {
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
        let mut batch = std::mem::take(&mut self.outgoing);
        let mut bytes = 0;
        let mut next = Some(first);
        while let Some(delivery) = next {
            if self.admit(&delivery) {
                bytes += delivery.frame.len();
                batch.push(delivery);
            }
            next = if bytes < COALESCE_BYTES {
                self.rx.try_recv().ok()
            } else {
                None
            };
        }
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
        batch.clear();
        self.outgoing = batch;
        sent
    }

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

    async fn on_timer(&mut self, socket: &mut Transport) -> Flow {
        let now = Instant::now();
        let s = &self.app.settings;
        if self.principal.expires_at <= time::OffsetDateTime::now_utc() {
            return Flow::Stop(self.close(socket, Some("Token expired"), true).await);
        }
        if self.client_pinged && now.duration_since(self.last_received) >= s.client_timeout {
            tracing::debug!(connection = %self.opening.connection_id, "client timeout");
            return Flow::Stop(Outcome::Lost);
        }
        if let Some(sequence_id) = self.buffer.as_mut().and_then(|b| b.take_ack())
            && self
                .send_raw(socket, self.protocol.ack(sequence_id))
                .await
                .is_err()
        {
            return Flow::Stop(Outcome::Lost);
        }
        if now.duration_since(self.last_sent) >= self.app.settings.keep_alive
            && self.send_raw(socket, self.protocol.ping()).await.is_err()
        {
            return Flow::Stop(Outcome::Lost);
        }
        Flow::Continue
    }

    async fn protocol_error(&mut self, socket: &mut Transport, error: &GatewayError) -> Flow {
        metrics::counter!(m::PROTOCOL_ERRORS).increment(1);
        tracing::info!(connection = %self.opening.connection_id, %error, "protocol error: closing connection");
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
                self.last_received = Instant::now();
                return Flow::Continue;
            }
        };
        self.last_received = Instant::now();
        let messages = match self.protocol.parse(&message) {
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
        if self.awaiting_sequence {
            // After a re-attach everything before the client's Sequence is stale (docs/signalr-wire.md).
            if let HubMessage::Sequence { sequence_id } = message {
                self.awaiting_sequence = false;
                if let Some(buffer) = &mut self.buffer
                    && let Err(error) = buffer.client_sequence(sequence_id)
                {
                    return self.protocol_error(socket, &error).await;
                }
            }
            return Flow::Continue;
        }
        if message.is_sequenced()
            && let Some(buffer) = &mut self.buffer
            && !buffer.accept_inbound()
        {
            return Flow::Continue;
        }
        match message {
            HubMessage::Ping => {
                self.client_pinged = true;
                Flow::Continue
            }
            HubMessage::Close { .. } => {
                // The client leaves on purpose: no grace period.
                self.forget();
                socket.close().await;
                Flow::Stop(Outcome::Ended)
            }
            HubMessage::Ack { sequence_id } => {
                if let Some(buffer) = &mut self.buffer {
                    buffer.ack(sequence_id);
                }
                Flow::Continue
            }
            HubMessage::Sequence { .. } => Flow::Continue,
            HubMessage::Invocation {
                invocation_id,
                target,
                arguments,
                stream_ids,
            } => {
                // Boxed: invocations are rare (join, leave, resume), and their futures would
                // otherwise be part of every idle connection's task.
                Box::pin(self.on_invocation(
                    socket,
                    invocation_id,
                    &target,
                    arguments,
                    !stream_ids.is_empty(),
                ))
                .await
            }
            HubMessage::StreamInvocation { invocation_id, .. } => {
                let frame = self
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

    /// Sends a Completion (sequenced) and maps failures to the loop's outcome.
    pub(crate) async fn reply(&mut self, socket: &mut Transport, frame: Frame) -> Flow {
        match self.send_sequenced(socket, frame).await {
            Ok(()) => Flow::Continue,
            Err(failure) => Flow::Stop(self.on_send_failure(socket, failure).await),
        }
    }
}
