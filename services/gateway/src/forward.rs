//! Requests between gateways for Server-Sent Events and long-polling connections another
//! gateway owns: the owner subscribes to `orderflow.gateway.connection.<id>.*` and answers the
//! POSTs, polls and DELETEs that a load balancer sent elsewhere, which `http_transport`
//! forwards here as NATS requests. No sticky sessions needed.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use futures::StreamExt;

use crate::http_ends::{HttpEnds, Polled};
use crate::protocol::Frame;
use crate::state::AppState;

/// A poll forwarded to the owning gateway waits less than a local one (`POLL_WAIT`): if the
/// owner dies meanwhile, nothing tells the forwarding gateway but the request's timeout, and
/// the client should learn soon (it then reconnects and resumes).
const FORWARDED_POLL_WAIT: Duration = Duration::from_secs(3);

fn subject(id: &str, what: &str) -> String {
    format!("orderflow.gateway.connection.{id}.{what}")
}

/// Header on a poll's answer: `frames`, `empty` or `closed`; on others: `ok` or `gone`.
const OUTCOME: &str = "Orderflow-Outcome";

/// What the owner answered.
pub(crate) enum Answer {
    Polled(Polled),
    Delivered,
    Gone,
    NoOwner,
    /// NATS is not connected: nobody could be asked.
    Unreachable,
    /// The request failed or timed out.
    Failed,
}

/// Serves forwarded requests for connection `id` until it ends.
pub(crate) async fn own(
    state: &AppState,
    id: &str,
    ends: Arc<HttpEnds>,
) -> Result<(), async_nats::Error> {
    let mut requests = state.nats.subscribe(subject(id, "*")).await?;
    // The server has the subscription before anyone can be told about the connection.
    // Not while NATS is away: a flush then waits for ever, and the client resubscribes
    // on its own when the connection comes back.
    if connected(state) {
        state.nats.flush().await?;
    }
    let nats = state.nats.clone();
    let ended = ends.ended.clone();
    tokio::spawn(async move {
        loop {
            let request = tokio::select! {
                () = ended.cancelled() => break,
                request = requests.next() => match request {
                    Some(request) => request,
                    None => break,
                },
            };
            let Some(reply) = request.reply.clone() else {
                continue;
            };
            // Polls wait: answer each on its own task so sends are not held up.
            let (nats, ends) = (nats.clone(), Arc::clone(&ends));
            tokio::spawn(async move {
                let (outcome, payload) = answer(&ends, &request).await;
                let mut headers = async_nats::HeaderMap::new();
                headers.insert(OUTCOME, outcome);
                let _ = nats.publish_with_headers(reply, headers, payload).await;
            });
        }
        let _ = requests.unsubscribe().await;
    });
    Ok(())
}

async fn answer(ends: &HttpEnds, request: &async_nats::Message) -> (&'static str, Bytes) {
    let what = request.subject.rsplit('.').next().unwrap_or_default();
    match what {
        "send" if ends.deliver(request.payload.clone()).await => ("ok", Bytes::new()),
        "delete" => {
            ends.end();
            ("ok", Bytes::new())
        }
        "poll" => match ends.poll(FORWARDED_POLL_WAIT).await {
            Polled::Frames(Frame::Text(text)) => ("text", Bytes::from(text.to_string())),
            Polled::Frames(Frame::Binary(data)) => ("binary", data),
            Polled::Empty => ("empty", Bytes::new()),
            Polled::Closed => ("closed", Bytes::new()),
        },
        _ => ("gone", Bytes::new()),
    }
}

fn connected(state: &AppState) -> bool {
    state.nats.connection_state() == async_nats::connection::State::Connected
}

async fn ask(state: &AppState, id: &str, what: &str, payload: Bytes, wait: Duration) -> Answer {
    // Requests made while NATS is away would only wait for their timeout.
    if !connected(state) {
        return Answer::Unreachable;
    }
    let request = async_nats::Request::new()
        .payload(payload)
        .timeout(Some(wait));
    let message = match state.nats.send_request(subject(id, what), request).await {
        Ok(message) => message,
        Err(error) => {
            return match error.kind() {
                async_nats::RequestErrorKind::NoResponders => Answer::NoOwner,
                _ => {
                    tracing::warn!(%error, what, "forwarding to the owning gateway failed");
                    Answer::Failed
                }
            };
        }
    };
    let outcome = message
        .headers
        .as_ref()
        .and_then(|h| h.get(OUTCOME))
        .map(|v| v.as_str().to_owned())
        .unwrap_or_default();
    match outcome.as_str() {
        "ok" => Answer::Delivered,
        "text" => match axum::extract::ws::Utf8Bytes::try_from(message.payload) {
            Ok(text) => Answer::Polled(Polled::Frames(Frame::Text(text))),
            Err(_) => Answer::Failed,
        },
        "binary" => Answer::Polled(Polled::Frames(Frame::Binary(message.payload))),
        "empty" => Answer::Polled(Polled::Empty),
        "closed" => Answer::Gone,
        _ => Answer::Gone,
    }
}

pub(crate) async fn send(state: &AppState, id: &str, body: Bytes) -> Answer {
    ask(state, id, "send", body, Duration::from_secs(5)).await
}

pub(crate) async fn poll(state: &AppState, id: &str) -> Answer {
    ask(
        state,
        id,
        "poll",
        Bytes::new(),
        FORWARDED_POLL_WAIT + Duration::from_secs(1),
    )
    .await
}

pub(crate) async fn delete(state: &AppState, id: &str) -> Answer {
    ask(state, id, "delete", Bytes::new(), Duration::from_secs(5)).await
}
