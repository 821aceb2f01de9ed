//! The connection to one client, whatever carries it: a WebSocket (both directions), or HTTP,
//! where a Server-Sent Events stream or long polls carry frames down and POSTs carry the
//! client's messages up (docs/signalr-wire.md §8). Sessions write frames and read the client's
//! messages through this, so the hub, resume and stateful code are the same for every
//! transport.

use axum::extract::ws::{Message, Utf8Bytes, WebSocket};
use bytes::Bytes;
use futures::StreamExt;
use tokio::sync::mpsc;
use tokio_util::sync::DropGuard;

use crate::protocol::{Frame, Protocol};

/// Messages queued for a connection are written together up to about this many bytes: one
/// write per burst rather than one per message, yet small enough not to hold up the first.
pub(crate) const COALESCE_BYTES: usize = 64 * 1024;

/// A client connection's transport.
// Not boxed: nearly every connection is a WebSocket, and boxing it would only add an
// allocation to each.
#[allow(clippy::large_enum_variant)]
pub enum Transport {
    /// Frames and messages both ways on one socket.
    WebSocket(WebSocket),
    /// Server-Sent Events or long polling.
    Http(HttpTransport),
}

/// The session's ends of an HTTP transport; the HTTP handlers hold the other ends.
pub struct HttpTransport {
    /// Frames to the client, read by the event stream or by the polls.
    pub outbound: mpsc::Sender<Frame>,
    /// Bodies the client POSTed, in order.
    pub inbound: mpsc::Receiver<Bytes>,
    /// Whether bodies are MessagePack (binary) rather than JSON text.
    pub binary: bool,
    /// Cancels the connection's forwarding between gateways once the session is done with it.
    pub ended: DropGuard,
}

/// The transport is gone: the socket broke or the client stopped reading.
#[derive(Debug)]
pub struct Gone;

impl Transport {
    /// Writes one frame.
    pub async fn send(&mut self, frame: Frame) -> Result<(), Gone> {
        match self {
            Transport::WebSocket(socket) => {
                socket.send(frame.into_message()).await.map_err(|_| Gone)
            }
            Transport::Http(http) => http.outbound.send(frame).await.map_err(|_| Gone),
        }
    }

    /// The client's next message; `None` when it is gone.
    pub async fn next(&mut self) -> Option<Result<Message, axum::Error>> {
        match self {
            Transport::WebSocket(socket) => socket.next().await,
            Transport::Http(http) => {
                let body = http.inbound.recv().await?;
                // JSON bodies must be text; anything else is handed on as binary, which the
                // JSON protocol then refuses like a binary WebSocket frame.
                Some(Ok(match (http.binary, Utf8Bytes::try_from(body.clone())) {
                    (false, Ok(text)) => Message::Text(text),
                    _ => Message::Binary(body),
                }))
            }
        }
    }

    /// Ends the transport from the server's side (after a Close message was sent).
    pub async fn close(&mut self) {
        match self {
            Transport::WebSocket(socket) => {
                let _ = socket.send(Message::Close(None)).await;
            }
            // The stream ends, or polls answer 204, once the session drops its sender.
            Transport::Http(http) => http.inbound.close(),
        }
    }

    /// Tells the transport which protocol the handshake chose.
    pub fn set_protocol(&mut self, protocol: Protocol) {
        if let Transport::Http(http) = self {
            http.binary = protocol == Protocol::MessagePack;
        }
    }
}
