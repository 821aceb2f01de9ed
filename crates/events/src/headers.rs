//! NATS message headers carried by every OrderFlow event.
//!
//! The payload is the protobuf encoding of the event; these headers let a consumer
//! pick the decoder ([`SCHEMA`]) and let JetStream drop duplicates ([`MSG_ID`])
//! without decoding anything.

use crate::{Error, Event};

/// JetStream's deduplication header; its value is the event id (UUID v7).
pub const MSG_ID: &str = "Nats-Msg-Id";
/// Standard content type header.
pub const CONTENT_TYPE: &str = "Content-Type";
/// Value of [`CONTENT_TYPE`] for every event: the payload is binary protobuf.
pub const CONTENT_TYPE_PROTOBUF: &str = "application/protobuf";
/// Full protobuf name of the payload's message, e.g. `orderflow.orders.v1.OrderCreated`;
/// feed it to [`crate::decode_by_schema`].
pub const SCHEMA: &str = "Orderflow-Schema";
/// Aggregate version of the event (decimal), so consumers can order or skip without
/// decoding.
pub const AGGREGATE_VERSION: &str = "Orderflow-Aggregate-Version";
/// W3C Trace Context: the trace and span the event was written in (`00-<trace id>-<span id>-<flags>`),
/// set by the outbox relay when the writer was inside a trace. A consumer's span continues it.
pub const TRACEPARENT: &str = "traceparent";
/// W3C Trace Context: vendor-specific trace state that travels with [`TRACEPARENT`]; only set
/// when non-empty.
pub const TRACESTATE: &str = "tracestate";
/// Set by JetStream republish: name of the stream that stored the message.
pub const NATS_STREAM: &str = "Nats-Stream";
/// Set by JetStream republish: the message's sequence in that stream (its position).
pub const NATS_SEQUENCE: &str = "Nats-Sequence";
/// Set by JetStream republish: the original (stored) subject.
pub const NATS_SUBJECT: &str = "Nats-Subject";
/// Set by JetStream republish: sequence of the previous message on the same subject.
pub const NATS_LAST_SEQUENCE: &str = "Nats-Last-Sequence";

/// The headers to publish `event` with, as `(name, value)` pairs: [`MSG_ID`],
/// [`CONTENT_TYPE`], [`SCHEMA`] and [`AGGREGATE_VERSION`].
///
/// Fails if the event has no metadata, which a producer must always set.
pub fn for_event<E: Event>(event: &E) -> Result<[(&'static str, String); 4], Error> {
    let metadata = event.metadata().ok_or(Error::MissingMetadata {
        schema: E::SCHEMA_NAME,
    })?;
    Ok([
        (MSG_ID, metadata.event_id.clone()),
        (CONTENT_TYPE, CONTENT_TYPE_PROTOBUF.to_owned()),
        (SCHEMA, E::SCHEMA_NAME.to_owned()),
        (AGGREGATE_VERSION, metadata.aggregate_version.to_string()),
    ])
}
