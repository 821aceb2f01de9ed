//! Server-Sent Events and long polling, as the SignalR transport protocol defines them
//! (docs/signalr-wire.md §8), for clients whose network refuses WebSockets:
//!
//! - `GET` with `Accept: text/event-stream` opens the connection and streams its frames as
//!   `data:` events; `GET` otherwise is a long poll (the first one opens the connection and
//!   answers at once; later ones wait up to [`POLL_WAIT`] for frames; 204 once it ended);
//! - `POST ?id=` carries the client's messages (the handshake first); `DELETE ?id=` ends a
//!   long-polling connection.
//!
//! No sticky sessions: the gateway that opened a connection owns it and subscribes to
//! `orderflow.gateway.connection.<id>.*` on NATS. A POST, poll or DELETE that a load balancer
//! sends to another gateway is checked there (JWT, token, same user) and forwarded to the owner
//! as a NATS request; a poll that no gateway answers is the one that opens the connection.

use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use futures::StreamExt;
use orderflow_runtime::Problem;
use orderflow_runtime::problem::codes;
use orderflow_runtime::serve::ConnectionAuth;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::admission::{self, Admitted};
use crate::forward;
use crate::http_ends::{HttpEnds, Polled};
use crate::protocol::Frame;
use crate::registry::ConnectionHandle;
use crate::session;
use crate::state::AppState;
use crate::transport::{HttpTransport, Transport};

/// A long poll waits this long for frames before it answers empty (the client polls again).
pub const POLL_WAIT: Duration = Duration::from_secs(20);
/// Frames queued for a client between its polls, or ahead of its event stream.
const OUTBOUND_FRAMES: usize = 64;
/// Client messages queued for the session.
const INBOUND_BODIES: usize = 16;

/// Which transport a new HTTP connection uses.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    EventStream,
    LongPolling,
}

/// Opens a connection owned by this gateway: registers it, starts its session and its
/// forwarding subscription. Returns the session's outbound frames (for the event stream).
async fn open(
    state: &AppState,
    admitted: Admitted,
    kind: Kind,
) -> Result<Option<mpsc::Receiver<Frame>>, Response> {
    let opening = admission::opening(state, &admitted)?;
    let (out_tx, out_rx) = mpsc::channel(OUTBOUND_FRAMES);
    let (in_tx, in_rx) = mpsc::channel(INBOUND_BODIES);
    let ended = CancellationToken::new();
    let (polls, stream) = match kind {
        Kind::LongPolling => (Some(tokio::sync::Mutex::new(out_rx)), None),
        Kind::EventStream => (None, Some(out_rx)),
    };
    let ends = Arc::new(HttpEnds {
        inbound: Mutex::new(Some(in_tx)),
        polls,
        ended: ended.clone(),
    });
    let id = admitted.ticket.connection_id.clone();
    let handle = Arc::new(ConnectionHandle {
        user_id: admitted.principal.user_id,
        attach: std::sync::OnceLock::new(),
        http: Some(Arc::clone(&ends)),
    });
    admission::register(state, &id, Arc::clone(&handle))?;
    // Subscribed before the client hears back, so its next request may land on any gateway.
    if let Err(error) = forward::own(state, &id, Arc::clone(&ends)).await {
        tracing::warn!(%error, "cannot subscribe for forwarded requests");
        state
            .registry
            .remove(&id, handle.user_id, opening.token_expires_at);
        return Err(Problem::new(codes::NATS_UNAVAILABLE)
            .detail("The gateway cannot reach NATS; try again.")
            .into_response());
    }
    let transport = Transport::Http(HttpTransport {
        outbound: out_tx,
        inbound: in_rx,
        binary: false,
        ended: ended.drop_guard(),
    });
    let app = state.clone();
    state.tracker.spawn(session::run(
        app,
        handle,
        admitted.principal,
        transport,
        opening,
    ));
    Ok(stream)
}

/// `GET` with `Accept: text/event-stream`: opens the connection and streams its frames.
pub(crate) async fn event_stream(state: &AppState, admitted: Admitted) -> Response {
    // A second stream for the same id is refused by the registry (409).
    let frames = match open(state, admitted, Kind::EventStream).await {
        Ok(Some(frames)) => frames,
        Ok(None) => return admission::conflict(),
        Err(response) => return response,
    };
    let events = futures::stream::unfold(frames, |mut frames| async move {
        let frame = frames.recv().await?;
        Some((Ok::<_, Infallible>(sse_event(&frame)), frames))
    });
    // A comment first: proxies that pass a response on only with its first bytes (Node's,
    // Vite's dev server) would otherwise hold the headers, and the client would never see
    // the stream open until the handshake it cannot send yet.
    let opened = futures::stream::once(async { Ok(Bytes::from_static(b":\r\n\r\n")) });
    let events = opened.chain(events);
    (
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/event-stream"),
            ),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-cache")),
            // Proxies such as nginx would otherwise hold events back in their buffers.
            (
                header::HeaderName::from_static("x-accel-buffering"),
                HeaderValue::from_static("no"),
            ),
        ],
        Body::from_stream(events),
    )
        .into_response()
}

/// One frame as a Server-Sent Event: every line behind `data: `, then a blank line. JSON
/// records hold no raw line breaks, so a frame is one line in practice.
fn sse_event(frame: &Frame) -> Bytes {
    let text = match frame {
        Frame::Text(text) => text.as_str(),
        // Negotiate offers this transport for text only; never reached.
        Frame::Binary(_) => "",
    };
    let mut out = String::with_capacity(text.len() + 12);
    for line in text.split('\n') {
        out.push_str("data: ");
        out.push_str(line.trim_end_matches('\r'));
        out.push_str("\r\n");
    }
    out.push_str("\r\n");
    Bytes::from(out)
}

/// `GET` without an upgrade or an event stream: a long poll of the connection, wherever it
/// is held; one no gateway holds is opened here, and that first poll answers at once.
pub(crate) async fn poll(state: &AppState, admitted: Admitted) -> Response {
    let id = admitted.ticket.connection_id.clone();
    if let Some(ends) = state.registry.get(&id).and_then(|h| h.http.clone()) {
        return ends.poll(POLL_WAIT).await.into_response();
    }
    if state.registry.has_ended(&id) {
        return Polled::Closed.into_response();
    }
    match forward::poll(state, &id).await {
        forward::Answer::Polled(polled) => return polled.into_response(),
        forward::Answer::Gone | forward::Answer::Delivered => {
            return StatusCode::NO_CONTENT.into_response();
        }
        forward::Answer::NoOwner => {}
        // NATS is away, so no other gateway can be asked. A token that can still open a
        // connection is most likely a new one: its first poll, answered here. (The official
        // client cannot take anything but 200 for a first poll: in Node it throws from a
        // detached promise.)
        forward::Answer::Unreachable if admitted.ticket.expires_at >= admission::unix_now() => {}
        // The owner did not answer (it died with the poll): the client reconnects and resumes.
        forward::Answer::Unreachable | forward::Answer::Failed => return nats_unavailable(),
    }
    match open(state, admitted, Kind::LongPolling).await {
        Ok(_) => StatusCode::OK.into_response(),
        Err(response) => response,
    }
}

/// `POST /hubs/orders?id=…`: the client's messages, for a connection on any gateway.
pub async fn send(
    State(state): State<AppState>,
    connection: ConnectionAuth,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let admitted = match admission::admit(&state, &connection, &uri, &headers, false).await {
        Ok(admitted) => admitted,
        Err(response) => return response,
    };
    if body.len() > state.settings.max_message_bytes {
        return Problem::new(codes::MESSAGE_TOO_LARGE)
            .detail(format!(
                "Messages are limited to {} bytes.",
                state.settings.max_message_bytes
            ))
            .into_response();
    }
    let id = &admitted.ticket.connection_id;
    let delivered = match state.registry.get(id).and_then(|h| h.http.clone()) {
        Some(ends) => ends.deliver(body).await,
        None => match forward::send(&state, id, body).await {
            forward::Answer::Polled(_) | forward::Answer::NoOwner | forward::Answer::Gone => false,
            forward::Answer::Unreachable | forward::Answer::Failed => return nats_unavailable(),
            forward::Answer::Delivered => true,
        },
    };
    if delivered {
        StatusCode::OK.into_response()
    } else {
        admission::unknown_connection()
    }
}

/// `DELETE /hubs/orders?id=…`: the client ends its long-polling connection.
pub async fn delete(
    State(state): State<AppState>,
    connection: ConnectionAuth,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    let admitted = match admission::admit(&state, &connection, &uri, &headers, false).await {
        Ok(admitted) => admitted,
        Err(response) => return response,
    };
    let id = &admitted.ticket.connection_id;
    match state.registry.get(id).and_then(|h| h.http.clone()) {
        Some(ends) => ends.end(),
        None => match forward::delete(&state, id).await {
            forward::Answer::Unreachable | forward::Answer::Failed => return nats_unavailable(),
            forward::Answer::NoOwner => return admission::unknown_connection(),
            _ => {}
        },
    }
    StatusCode::ACCEPTED.into_response()
}

fn nats_unavailable() -> Response {
    admission::retry_soon(
        Problem::new(codes::NATS_UNAVAILABLE)
            .detail("The gateway cannot reach the gateway holding this connection; try again."),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_become_data_events() {
        let frame = Frame::text("{\"type\":6}\u{1e}{\"type\":6}\u{1e}".to_owned());
        assert_eq!(
            sse_event(&frame),
            Bytes::from("data: {\"type\":6}\u{1e}{\"type\":6}\u{1e}\r\n\r\n")
        );
        assert_eq!(
            sse_event(&Frame::text("a\nb".to_owned())),
            Bytes::from("data: a\r\ndata: b\r\n\r\n")
        );
    }
}
