//! JetStream for event tests (feature `service`): read a stream's messages decoded, wait for a
//! stream to fill, publish contract events (or raw bytes) the way a service's relay would, and
//! fetch from a durable pull consumer without acking.

use std::time::Duration;

use async_nats::jetstream::{self, consumer::pull};
use futures::StreamExt as _;
use orderflow_events::{AnyEvent, Event, decode_by_schema, headers};

use crate::poll::{EVENTUALLY, holds_within};

/// A message stored in a stream, decoded.
#[derive(Debug)]
pub struct Stored {
    pub sequence: u64,
    pub subject: String,
    pub msg_id: String,
    pub schema: String,
    /// The W3C trace context the relay put on it, if any.
    pub traceparent: Option<String>,
    pub event: AnyEvent,
}

/// Every message currently in `stream`, in stream order; panics on one that does not decode.
pub async fn read_stream(js: &jetstream::Context, stream: &str) -> Vec<Stored> {
    read(js, stream)
        .await
        .into_iter()
        .map(|(stored, decoded)| stored.with(decoded.unwrap()))
        .collect()
}

/// Every message in `stream` that decodes, in stream order (tests that publish garbage).
pub async fn read_decodable(js: &jetstream::Context, stream: &str) -> Vec<Stored> {
    read(js, stream)
        .await
        .into_iter()
        .filter_map(|(stored, decoded)| decoded.ok().map(|event| stored.with(event)))
        .collect()
}

/// A stored message's place and headers, before its payload is decoded.
struct Place {
    sequence: u64,
    subject: String,
    msg_id: String,
    schema: String,
    traceparent: Option<String>,
}

impl Place {
    fn with(self, event: AnyEvent) -> Stored {
        Stored {
            sequence: self.sequence,
            subject: self.subject,
            msg_id: self.msg_id,
            schema: self.schema,
            traceparent: self.traceparent,
            event,
        }
    }
}

async fn read(
    js: &jetstream::Context,
    stream: &str,
) -> Vec<(Place, Result<AnyEvent, orderflow_events::Error>)> {
    let mut stream = js.get_stream(stream).await.unwrap();
    let last = stream.info().await.unwrap().state.last_sequence;
    let mut out = Vec::new();
    for sequence in 1..=last {
        let Ok(raw) = stream.get_raw_message(sequence).await else {
            continue;
        };
        let header = |name: &str| raw.headers.get(name).map(|v| v.as_str().to_owned());
        let place = Place {
            sequence,
            subject: raw.subject.to_string(),
            msg_id: header(headers::MSG_ID).unwrap_or_default(),
            schema: header(headers::SCHEMA).unwrap_or_default(),
            traceparent: header(headers::TRACEPARENT),
        };
        let decoded = decode_by_schema(&place.schema, &raw.payload);
        out.push((place, decoded));
    }
    out
}

/// How many messages `stream` holds now.
pub async fn stream_len(js: &jetstream::Context, stream: &str) -> usize {
    let mut stream = js.get_stream(stream).await.unwrap();
    stream.info().await.unwrap().state.messages as usize
}

/// Whether `stream` holds at least `count` messages within `limit`.
pub async fn stream_reaches(
    js: &jetstream::Context,
    stream: &str,
    count: usize,
    limit: Duration,
) -> bool {
    holds_within(limit, || async { stream_len(js, stream).await >= count }).await
}

/// Waits (up to [`EVENTUALLY`]) until `stream` holds at least `count` messages, then returns
/// them all; the caller asserts how many there are.
pub async fn wait_for_stream(js: &jetstream::Context, stream: &str, count: usize) -> Vec<Stored> {
    stream_reaches(js, stream, count, EVENTUALLY).await;
    read_stream(js, stream).await
}

/// Publishes raw bytes as an event of `schema` on `subject`, stored once per `msg_id`.
pub async fn publish_raw(
    js: &jetstream::Context,
    subject: String,
    schema: &str,
    payload: Vec<u8>,
    msg_id: &str,
) {
    let mut h = async_nats::HeaderMap::new();
    h.insert(headers::MSG_ID, msg_id);
    h.insert(headers::SCHEMA, schema);
    js.publish_with_headers(subject, h, payload.into())
        .await
        .unwrap()
        .await
        .unwrap();
}

/// Publishes a contract event under the message id `msg_id` (normally [`event_id`]; another
/// one makes JetStream store a duplicate delivery of the same event).
pub async fn publish_as<E: Event>(js: &jetstream::Context, event: &E, msg_id: &str) {
    publish_raw(
        js,
        event.subject().unwrap(),
        E::SCHEMA_NAME,
        event.encode_to_vec(),
        msg_id,
    )
    .await;
}

/// Publishes a contract event under its own event id, as a relay does.
pub async fn publish<E: Event>(js: &jetstream::Context, event: &E) {
    publish_as(js, event, &event_id(event)).await;
}

/// The event id of a contract event.
pub fn event_id<E: Event>(event: &E) -> String {
    event.metadata().unwrap().event_id.clone()
}

/// Fetches up to `n` messages from `consumer` in one pull, waiting at most `wait`; none acked.
pub async fn fetch(
    consumer: &jetstream::consumer::Consumer<pull::Config>,
    n: usize,
    wait: Duration,
) -> Vec<jetstream::Message> {
    let mut batch = consumer
        .fetch()
        .max_messages(n)
        .expires(wait)
        .messages()
        .await
        .unwrap();
    let mut messages = Vec::new();
    while let Some(m) = batch.next().await {
        messages.push(m.unwrap());
    }
    messages
}

/// Fetches one message from `consumer`, waiting at most `wait`; not acked.
pub async fn fetch_one(
    consumer: &jetstream::consumer::Consumer<pull::Config>,
    wait: Duration,
) -> Option<jetstream::Message> {
    fetch(consumer, 1, wait).await.pop()
}

/// Fetches exactly `n` messages from `consumer`, pulling until they are there; none acked.
pub async fn fetch_exactly(
    consumer: &jetstream::consumer::Consumer<pull::Config>,
    n: usize,
    wait: Duration,
) -> Vec<jetstream::Message> {
    let mut messages = Vec::new();
    while messages.len() < n {
        messages.extend(fetch(consumer, n - messages.len(), wait).await);
    }
    messages
}
