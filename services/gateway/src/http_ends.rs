//! The HTTP handlers' ends of one Server-Sent Events or long-polling connection: where POSTed
//! bodies go and where polls take frames from. Kept apart from the handlers in
//! `http_transport` so that the registry, which holds these ends for every connection, does not
//! depend on the handlers that look connections up in it.

use std::sync::Mutex;
use std::time::Duration;

use axum::body::Bytes;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::protocol::Frame;
use crate::transport::COALESCE_BYTES;

/// The HTTP handlers' ends of one connection (the session holds the others).
pub struct HttpEnds {
    /// Where POSTed bodies go; `None` once the client ended the connection (DELETE).
    pub(crate) inbound: Mutex<Option<mpsc::Sender<Bytes>>>,
    /// Long polling: the frames waiting for the next poll (one poll reads at a time).
    pub(crate) polls: Option<tokio::sync::Mutex<mpsc::Receiver<Frame>>>,
    /// Cancelled when the session ends: stops forwarding to this gateway.
    pub(crate) ended: CancellationToken,
}

impl HttpEnds {
    /// Hands a POSTed body to the session; `false` if the connection is gone.
    pub(crate) async fn deliver(&self, body: Bytes) -> bool {
        let sender = self
            .inbound
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        match sender {
            Some(sender) => sender.send(body).await.is_ok(),
            None => false,
        }
    }

    /// The client ends the connection: the session sees its transport close.
    pub(crate) fn end(&self) {
        self.inbound
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
    }

    /// Waits up to `wait` for frames and takes what is queued (one write's worth).
    pub(crate) async fn poll(&self, wait: Duration) -> Polled {
        let Some(polls) = &self.polls else {
            return Polled::Closed;
        };
        let mut rx = polls.lock().await;
        let first = match tokio::time::timeout(wait, rx.recv()).await {
            Err(_) => return Polled::Empty,
            Ok(None) => return Polled::Closed,
            Ok(Some(frame)) => frame,
        };
        let mut frames = vec![first];
        let mut bytes = frames[0].len();
        while bytes < COALESCE_BYTES {
            match rx.try_recv() {
                Ok(frame) => {
                    bytes += frame.len();
                    frames.push(frame);
                }
                Err(_) => break,
            }
        }
        Polled::Frames(Frame::concat(frames.iter()))
    }
}

/// What a poll found.
pub(crate) enum Polled {
    Frames(Frame),
    Empty,
    Closed,
}

impl Polled {
    pub(crate) fn into_response(self) -> Response {
        match self {
            Polled::Frames(Frame::Text(text)) => (
                [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
                text.to_string(),
            )
                .into_response(),
            Polled::Frames(Frame::Binary(data)) => {
                ([(header::CONTENT_TYPE, "application/octet-stream")], data).into_response()
            }
            Polled::Empty => StatusCode::OK.into_response(),
            Polled::Closed => StatusCode::NO_CONTENT.into_response(),
        }
    }
}
