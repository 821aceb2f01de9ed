//! `event_decode`: a NATS message (headers, subject, protobuf payload) through the event decoding
//! every consumer does — the `Orderflow-Schema` header picks the message type for
//! `decode_by_schema` (as the inbox consumer and the gateway do), metadata is read, the subject
//! is parsed — and through the gateway's translation into the hub message browsers receive.
//!
//! Input: `orderflow_fuzz::event::EventInput` (headers and subject built with `arbitrary`, the
//! payload is the rest). Checked besides "no panic": unknown schemas and only those are
//! refused as unknown; a decoded event re-encodes and decodes to itself; its timestamp and
//! subject survive a round trip and the subject names the event's own kind; a subject that
//! parses prints and parses back to itself; the stream position comes from the headers exactly;
//! and whatever the gateway makes of an event is one valid hub Invocation record carrying that
//! position.

#![no_main]

use std::str::FromStr;

use libfuzzer_sys::fuzz_target;
use orderflow_events::subjects::{self, EventSubject, OrderEventKind, ProductEventKind};
use orderflow_events::{AnyEvent, Error, SCHEMA_NAMES, decode_by_schema, headers, timestamp};
use orderflow_fuzz::event::{EventInput, Name};
use orderflow_gateway::protocol::{
    Frame, HubMessage, Position, Protocol, StreamName, msgpack, parse_message, split_records,
};
use orderflow_gateway::translate::{position_of, translate};
use serde_json::Value;

fuzz_target!(init: orderflow_fuzz::check_layouts(), |input: EventInput<'_>| {
    let mut map = async_nats::HeaderMap::new();
    for (name, value) in &input.headers {
        let name = match name {
            Name::Known(known) => *known,
            Name::Custom(custom) => custom,
        };
        // Names and values a NATS message cannot carry never reach a consumer.
        let (Ok(name), Ok(value)) = (
            async_nats::HeaderName::from_str(name),
            async_nats::HeaderValue::from_str(&value.text()),
        ) else {
            continue;
        };
        map.append(name, value);
    }

    // As the inbox consumer reads it: a missing header is the empty schema.
    let schema = map
        .get(headers::SCHEMA)
        .map(|v| v.as_str().to_owned())
        .unwrap_or_default();
    let decoded = decode_by_schema(&schema, input.payload);
    match &decoded {
        Ok(event) => check_event(&schema, event),
        Err(Error::UnknownSchema(named)) => {
            assert_eq!(named, &schema);
            assert!(!SCHEMA_NAMES.contains(&schema.as_str()));
        }
        Err(Error::Decode {
            schema: expected, ..
        }) => assert_eq!(*expected, schema),
        Err(other) => panic!("unexpected decoding error {other:?}"),
    }

    check_subject(input.subject);
    if let Some(stored) = map.get(headers::NATS_SUBJECT) {
        check_subject(stored.as_str());
    }

    // The gateway: position from `Nats-Stream`/`Nats-Sequence`, then the hub message.
    let position = position_of(&map);
    if let Some(p) = position {
        let stream = map.get(headers::NATS_STREAM).map(|v| v.as_str().to_owned());
        let sequence = map
            .get(headers::NATS_SEQUENCE)
            .map(|v| v.as_str().to_owned());
        assert_eq!(stream.as_deref(), Some(p.stream.as_str()));
        assert_eq!(sequence.and_then(|s| s.parse().ok()), Some(p.sequence));
    }
    let position = position.unwrap_or(Position {
        stream: StreamName::Orders,
        sequence: 1,
    });
    let json = translate(&schema, input.payload, position, Protocol::Json);
    let msgpack = translate(&schema, input.payload, position, Protocol::MessagePack);
    assert_eq!(json.is_some(), msgpack.is_some(), "one protocol delivers, the other not");
    if let (Some(json), Some(msgpack)) = (json, msgpack) {
        assert!(decoded.is_ok(), "an undecodable event was delivered");
        assert_eq!(json.position, position);
        assert_eq!(msgpack.position, position);
        let target = check_hub_frame(json.frame.as_text().expect("JSON is text"), position);
        let Frame::Binary(binary) = &msgpack.frame else {
            panic!("MessagePack frames are binary");
        };
        check_msgpack_frame(binary, &target, position);
    }
});

/// The MessagePack delivery is one framed Invocation of the same method, `[1, {}, nil,
/// target, [argument]]`, whose argument carries the position.
fn check_msgpack_frame(frame: &[u8], target: &str, position: Position) {
    use serde::de::IgnoredAny;
    let bodies = msgpack::split_messages(frame).expect("delivery frames are framed");
    assert_eq!(bodies.len(), 1);
    let (kind, _headers, id, method, arguments): (
        u8,
        IgnoredAny,
        Option<String>,
        String,
        Vec<IgnoredAny>,
    ) = rmp_serde::from_slice(bodies[0]).expect("a MessagePack invocation");
    assert_eq!(
        (kind, id, method.as_str(), arguments.len()),
        (1, None, target, 1)
    );
    let position = position.to_string();
    assert!(
        bodies[0]
            .windows(position.len())
            .any(|w| w == position.as_bytes()),
        "no position in the MessagePack delivery"
    );
}

fn check_event(schema: &str, event: &AnyEvent) {
    assert_eq!(event.schema_name(), schema);
    // Decoding is a fixpoint after one round: what we decoded re-encodes to itself.
    let again = decode_by_schema(schema, &event.encode_to_vec()).expect("re-encoded event");
    assert_eq!(&again, event);

    if let Some(metadata) = event.metadata() {
        // No panics on arbitrary ids; valid ones print back canonically.
        if let Ok(id) = metadata.event_uuid() {
            assert_eq!(uuid::Uuid::parse_str(&id.to_string()).ok(), Some(id));
        }
        let _ = metadata.aggregate_uuid();
        match metadata.committed_at_utc() {
            Ok(Some(at)) => {
                assert_eq!(Some(timestamp::to_timestamp(at)), metadata.committed_at);
            }
            Ok(None) => assert!(metadata.committed_at.is_none()),
            Err(error) => assert!(matches!(error, Error::TimestampOutOfRange { .. })),
        }
    }

    // The subject an event is published on parses back to that event's kind.
    if let Ok(subject) = event.subject() {
        let parsed = EventSubject::from_str(&subject)
            .unwrap_or_else(|e| panic!("own subject {subject:?} does not parse: {e}"));
        assert_eq!(parsed.to_string(), subject);
        let expected_kind = match (event, &parsed) {
            (AnyEvent::OrderCreated(_), EventSubject::Order { kind, .. }) => {
                *kind == OrderEventKind::Created
            }
            (AnyEvent::OrderConfirmed(_), EventSubject::Order { kind, .. }) => {
                *kind == OrderEventKind::Confirmed
            }
            (AnyEvent::OrderStatusChanged(_), EventSubject::Order { kind, .. }) => {
                *kind == OrderEventKind::StatusChanged
            }
            (AnyEvent::OrderCancelled(_), EventSubject::Order { kind, .. }) => {
                *kind == OrderEventKind::Cancelled
            }
            (AnyEvent::ProductUpserted(e), EventSubject::Product { kind, sku }) => {
                *kind == ProductEventKind::Upserted && *sku == e.sku
            }
            (AnyEvent::StockLevelChanged(e), EventSubject::Product { kind, sku }) => {
                *kind == ProductEventKind::StockLevelChanged && *sku == e.sku
            }
            (AnyEvent::ReservationRejected(_), EventSubject::ReservationRejected { .. }) => true,
            _ => false,
        };
        assert!(expected_kind, "{subject:?} for {}", event.schema_name());
    }
}

fn check_subject(subject: &str) {
    if let Ok(parsed) = EventSubject::from_str(subject) {
        let printed = parsed.to_string();
        assert!(subjects::strip_live(&printed).is_none());
        assert_eq!(EventSubject::from_str(&printed).ok(), Some(parsed.clone()));
        // The live (republished) subject names the same event.
        assert_eq!(
            EventSubject::from_str(&subjects::live(&printed)).ok(),
            Some(parsed)
        );
    }
}

/// A delivery is one Invocation record of a client method with one argument that carries the
/// event's position; returns the method.
fn check_hub_frame(frame: &str, position: Position) -> String {
    let records = split_records(frame).expect("delivery frames are framed");
    assert_eq!(records.len(), 1, "{frame:?}");
    match parse_message(records[0]).expect("delivery frames parse") {
        HubMessage::Invocation(call) => {
            assert!(call.invocation_id.is_none());
            assert!(call.stream_ids.is_empty());
            assert!(
                ["OrderStatusChanged", "NewOrderCreated", "LowStockAlert"]
                    .contains(&call.target.as_str()),
                "{}",
                call.target
            );
            assert_eq!(call.arguments.len(), 1);
            assert_eq!(
                call.arguments[0].get("position"),
                Some(&Value::from(position.to_string()))
            );
            call.target
        }
        other => panic!("a delivery is not an Invocation: {other:?}"),
    }
}
