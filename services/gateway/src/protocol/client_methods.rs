//! The typed server-to-client methods of the OrderFlow hub. Each variant is a method name the
//! browser registers with `connection.on(...)`; an event is encoded once into a complete
//! Invocation record and the same bytes are shared by every recipient.
//!
//! ## Positions
//!
//! Every pushed message carries `position`, a string `"<STREAM>:<sequence>"` such as
//! `"ORDERS:1042"` or `"INVENTORY:77"`: the JetStream stream the event is stored in and its stream
//! sequence. Sequences are totally ordered within a stream and independent across streams, so a
//! client keeps the latest position it saw *per stream* and hands all of them to
//! `Resume(positions)` after a reconnect (a single string is accepted too). Positions are opaque
//! to clients: they only store and return them.

use std::fmt;
use std::str::FromStr;

use serde::{Serialize, Serializer};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::codec::{Frame, Protocol};
use crate::error::GatewayError;

/// The JetStream streams whose events reach browsers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum StreamName {
    /// `ORDERS`, the order aggregate's events.
    Orders,
    /// `INVENTORY`, stock events.
    Inventory,
}

impl StreamName {
    /// Both streams, in a fixed order.
    pub const ALL: [StreamName; 2] = [StreamName::Orders, StreamName::Inventory];

    /// The JetStream stream name.
    pub fn as_str(self) -> &'static str {
        match self {
            StreamName::Orders => "ORDERS",
            StreamName::Inventory => "INVENTORY",
        }
    }
}

impl FromStr for StreamName {
    type Err = GatewayError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "ORDERS" => Ok(StreamName::Orders),
            "INVENTORY" => Ok(StreamName::Inventory),
            _ => Err(GatewayError::BadPosition),
        }
    }
}

/// Where an event sits: stream and stream sequence.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Position {
    /// The stream the event is stored in.
    pub stream: StreamName,
    /// Its sequence in that stream (starts at 1).
    pub sequence: u64,
}

impl fmt::Display for Position {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.stream.as_str(), self.sequence)
    }
}

impl FromStr for Position {
    type Err = GatewayError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (stream, sequence) = s.split_once(':').ok_or(GatewayError::BadPosition)?;
        Ok(Position {
            stream: stream.parse()?,
            sequence: sequence.parse().map_err(|_| GatewayError::BadPosition)?,
        })
    }
}

impl Serialize for Position {
    /// `"ORDERS:1042"`, written without the formatting machinery (`collect_str` went through
    /// `fmt::Write` and was a tenth of encoding a hub message).
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut digits = itoa::Buffer::new();
        let sequence = digits.format(self.sequence);
        let stream = self.stream.as_str();
        let mut text = [0u8; 40];
        let len = stream.len() + 1 + sequence.len();
        text[..stream.len()].copy_from_slice(stream.as_bytes());
        text[stream.len()] = b':';
        text[stream.len() + 1..len].copy_from_slice(sequence.as_bytes());
        // Both parts are ASCII.
        serializer.serialize_str(std::str::from_utf8(&text[..len]).unwrap_or_default())
    }
}

/// A point in time in a hub message: an RFC 3339 string in JSON (`"2026-11-25T14:00:00Z"`),
/// the MessagePack timestamp extension (type -1) in MessagePack, which is how ASP.NET Core
/// SignalR sends a `DateTime` and what typed .NET and Java clients read (the JavaScript client
/// turns it into a `Date`). A missing time is `""` in JSON and nil in MessagePack.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct HubTime(Option<OffsetDateTime>);

impl HubTime {
    /// `time`, or the missing time for `None`.
    pub fn new(time: Option<OffsetDateTime>) -> HubTime {
        HubTime(time)
    }

    /// RFC 3339, or `""` when missing.
    pub fn rfc3339(&self) -> String {
        self.0
            .and_then(|t| t.format(&Rfc3339).ok())
            .unwrap_or_default()
    }

    /// The timestamp extension's data: 32, 64 or 96 bits, the smallest that holds the time
    /// (the MessagePack specification's rule).
    fn extension_data(time: OffsetDateTime) -> Vec<u8> {
        let seconds = time.unix_timestamp();
        let nanos = time.nanosecond();
        match u64::try_from(seconds) {
            Ok(s) if s >> 34 == 0 => {
                let packed = (u64::from(nanos) << 34) | s;
                match u32::try_from(packed) {
                    Ok(small) => small.to_be_bytes().to_vec(),
                    Err(_) => packed.to_be_bytes().to_vec(),
                }
            }
            _ => {
                let mut data = nanos.to_be_bytes().to_vec();
                data.extend_from_slice(&seconds.to_be_bytes());
                data
            }
        }
    }
}

/// Bytes that serialize as MessagePack `bin`, as rmp-serde's extension encoding expects.
struct RawBytes<'a>(&'a [u8]);

impl Serialize for RawBytes<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_bytes(self.0)
    }
}

impl Serialize for HubTime {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        if serializer.is_human_readable() {
            return serializer.serialize_str(&self.rfc3339());
        }
        match self.0 {
            None => serializer.serialize_none(),
            Some(time) => serializer.serialize_newtype_struct(
                rmp_serde::MSGPACK_EXT_STRUCT_NAME,
                &(-1i8, RawBytes(&HubTime::extension_data(time))),
            ),
        }
    }
}

/// `OrderStatusChanged` → the order's customer and the admin dashboard.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct OrderStatusChanged {
    pub order_id: String,
    pub order_number: String,
    pub new_status: &'static str,
    pub old_status: &'static str,
    /// Why the status changed, free text for people (a cancellation's reason); `""` when the
    /// event gives none.
    pub reason: String,
    pub updated_at: HubTime,
    pub position: Position,
}

/// `NewOrderCreated` → the admin dashboard.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct NewOrderCreated {
    pub order_id: String,
    pub order_number: String,
    pub customer_name: String,
    /// The total in minor units of `currency` (an integer, exact: `1999` is 19.99 EUR, `1999`
    /// is ¥1,999); the browser divides by the currency's own minor-unit digits.
    pub total_minor: i64,
    /// ISO 4217 currency code of the total, e.g. `EUR`.
    pub currency: String,
    pub created_at: HubTime,
    pub position: Position,
}

/// `LowStockAlert` → the admin dashboard, once per crossing below the threshold.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LowStockAlert {
    pub product_id: String,
    pub sku: String,
    pub stock_level: i64,
    pub threshold: i64,
    pub position: Position,
}

/// `StockLevelChanged` → connections that called `WatchStock` (a customer's open order form),
/// for every stock level change. Live only, not resumable, so it carries no `position`: a
/// watcher reloads stock from the REST API after every (re)connect and keeps, per product,
/// whichever of the two has the higher `version` (the product's aggregate version, which the
/// REST API's `version` also is).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StockLevelChanged {
    pub product_id: String,
    pub sku: String,
    /// Units available after the change.
    pub stock_level: i64,
    /// The product's version after the change.
    pub version: u64,
}

/// How a resume went: `{"status":"ok","replayed":n}`, or `{"status":"reload","streams":[…],
/// "replayed":n}` when some stream's missed events cannot be replayed (older than retention,
/// more than the per-connection cap, or, for the `Resume` method, newer events were already
/// delivered): reload those streams' state from the REST APIs. Sent as `Resumed` after a
/// resume requested in the hub URL, and as the result of the `Resume` method.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ResumeResult {
    /// `ok` or `reload`.
    pub status: &'static str,
    /// Events sent.
    pub replayed: u64,
    /// With `reload`: the streams to reload.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub streams: Vec<&'static str>,
}

impl ResumeResult {
    /// `ok` when `reload` is empty, else `reload` naming those streams.
    pub fn new(replayed: u64, reload: Vec<&'static str>) -> Self {
        ResumeResult {
            status: if reload.is_empty() { "ok" } else { "reload" },
            replayed,
            streams: reload,
        }
    }
}

/// One server-to-client hub method call. The variant name is the client method name.
#[derive(Debug, Clone, PartialEq)]
pub enum ClientMethod {
    OrderStatusChanged(OrderStatusChanged),
    NewOrderCreated(NewOrderCreated),
    LowStockAlert(LowStockAlert),
    StockLevelChanged(StockLevelChanged),
    Resumed(ResumeResult),
}

impl ClientMethod {
    /// The method name the client registers a handler for.
    pub fn target(&self) -> &'static str {
        match self {
            ClientMethod::OrderStatusChanged(_) => "OrderStatusChanged",
            ClientMethod::NewOrderCreated(_) => "NewOrderCreated",
            ClientMethod::LowStockAlert(_) => "LowStockAlert",
            ClientMethod::StockLevelChanged(_) => "StockLevelChanged",
            ClientMethod::Resumed(_) => "Resumed",
        }
    }

    /// Encodes the complete Invocation message in `protocol`.
    pub fn encode(&self, protocol: Protocol) -> Frame {
        let target = self.target();
        match (self, protocol) {
            (ClientMethod::OrderStatusChanged(m), Protocol::Json) => Frame::text(m.encode_json()),
            (ClientMethod::OrderStatusChanged(m), _) => protocol.invocation(target, m),
            (ClientMethod::NewOrderCreated(m), _) => protocol.invocation(target, m),
            (ClientMethod::LowStockAlert(m), _) => protocol.invocation(target, m),
            (ClientMethod::StockLevelChanged(m), _) => protocol.invocation(target, m),
            (ClientMethod::Resumed(m), _) => protocol.invocation(target, m),
        }
    }
}

impl OrderStatusChanged {
    /// The record, written directly: this is the message of every per-customer delivery, and
    /// serde_json's struct path escaped the constant keys on every call (encoding was a tenth
    /// of the gateway's instructions per delivery). Only the three free-text fields are escaped,
    /// by serde_json; the rest are ASCII of known shape. A test holds it equal to the serde
    /// encoding.
    fn encode_json(&self) -> String {
        let mut out = Vec::with_capacity(
            208 + self.order_id.len() + self.order_number.len() + self.reason.len(),
        );
        out.extend_from_slice(
            br#"{"type":1,"target":"OrderStatusChanged","arguments":[{"orderId":"#,
        );
        json_string(&mut out, &self.order_id);
        out.extend_from_slice(br#","orderNumber":"#);
        json_string(&mut out, &self.order_number);
        for (key, value) in [
            (&br#","newStatus":""#[..], self.new_status),
            (br#"","oldStatus":""#, self.old_status),
        ] {
            out.extend_from_slice(key);
            out.extend_from_slice(value.as_bytes());
        }
        out.extend_from_slice(br#"","reason":"#);
        json_string(&mut out, &self.reason);
        out.extend_from_slice(br#","updatedAt":""#);
        out.extend_from_slice(self.updated_at.rfc3339().as_bytes());
        out.extend_from_slice(br#"","position":""#);
        out.extend_from_slice(self.position.stream.as_str().as_bytes());
        out.push(b':');
        out.extend_from_slice(
            itoa::Buffer::new()
                .format(self.position.sequence)
                .as_bytes(),
        );
        out.extend_from_slice(b"\"}]}\x1e");
        // Every piece is UTF-8: constants, serde_json's escaping, and the fields' own strings.
        String::from_utf8(out).unwrap_or_default()
    }
}

/// `value` as a JSON string literal, escaped as serde_json escapes it.
fn json_string(out: &mut Vec<u8>, value: &str) {
    // Writing a string into a Vec cannot fail.
    let _ = serde::Serializer::serialize_str(&mut serde_json::Serializer::new(out), value);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::messages;
    use crate::protocol::msgpack;

    /// A time from RFC 3339.
    fn at(text: &str) -> HubTime {
        HubTime::new(Some(OffsetDateTime::parse(text, &Rfc3339).unwrap()))
    }

    /// `OrderStatusChanged` of order `order_id` from Confirmed to Shipped, at ORDERS:9.
    fn shipped(order_id: &str) -> ClientMethod {
        ClientMethod::OrderStatusChanged(OrderStatusChanged {
            order_id: order_id.into(),
            order_number: "ORD-1".into(),
            new_status: "Shipped",
            old_status: "Confirmed",
            reason: String::new(),
            updated_at: at("2026-11-25T14:00:00Z"),
            position: Position {
                stream: StreamName::Orders,
                sequence: 9,
            },
        })
    }

    /// `OrderStatusChanged` of order `o-2` from Confirmed to Cancelled with `reason`, at
    /// ORDERS:10, without a time (nil in MessagePack, so the payload decodes as plain values).
    fn cancelled(reason: &str) -> OrderStatusChanged {
        OrderStatusChanged {
            order_id: "o-2".into(),
            order_number: "ORD-2".into(),
            new_status: "Cancelled",
            old_status: "Confirmed",
            reason: reason.into(),
            updated_at: HubTime::default(),
            position: Position {
                stream: StreamName::Orders,
                sequence: 10,
            },
        }
    }

    /// The single argument of a MessagePack Invocation frame, decoded, with its target.
    fn msgpack_argument(method: &ClientMethod) -> (String, serde_json::Value) {
        let Frame::Binary(frame) = method.encode(Protocol::MessagePack) else {
            panic!("MessagePack frames are binary");
        };
        let bodies = msgpack::split_messages(&frame).unwrap();
        assert_eq!(bodies.len(), 1);
        match msgpack::parse_message(bodies[0]).unwrap() {
            crate::protocol::HubMessage::Invocation(i) => {
                assert_eq!(i.invocation_id, None);
                assert_eq!(i.arguments.len(), 1);
                (i.target, i.arguments[0].clone())
            }
            other => panic!("not an invocation: {other:?}"),
        }
    }

    fn json(method: &ClientMethod) -> String {
        method.encode(Protocol::Json).as_text().unwrap().to_owned()
    }

    #[test]
    fn positions_round_trip() {
        let p: Position = "ORDERS:1042".parse().unwrap();
        assert_eq!(
            p,
            Position {
                stream: StreamName::Orders,
                sequence: 1042
            }
        );
        assert_eq!(p.to_string(), "ORDERS:1042");
        assert_eq!(
            "INVENTORY:7".parse::<Position>().unwrap().stream,
            StreamName::Inventory
        );
        for bad in [
            "",
            "ORDERS",
            "ORDERS:",
            "ORDERS:-1",
            "orders:1",
            "X:1",
            "ORDERS:1:2",
        ] {
            assert!(bad.parse::<Position>().is_err(), "{bad}");
        }
    }

    #[test]
    fn encodes_an_invocation_record() {
        let m = shipped("0192f3a0-0000-7000-8000-000000000001");
        let frame = json(&m);
        assert!(frame.ends_with('\u{1e}'));
        assert!(frame.starts_with("{\"type\":1,\"target\":\"OrderStatusChanged\","));
        let v: serde_json::Value = serde_json::from_str(frame.trim_end_matches('\u{1e}')).unwrap();
        assert_eq!(
            v,
            serde_json::json!({"type":1,"target":"OrderStatusChanged","arguments":[{
                "orderId":"0192f3a0-0000-7000-8000-000000000001","orderNumber":"ORD-1",
                "newStatus":"Shipped","oldStatus":"Confirmed","reason":"",
                "updatedAt":"2026-11-25T14:00:00Z","position":"ORDERS:9"}]})
        );
        let with_reason = json(&ClientMethod::OrderStatusChanged(cancelled(
            "Out of stock: KB-001",
        )));
        let v: serde_json::Value =
            serde_json::from_str(with_reason.trim_end_matches('\u{1e}')).unwrap();
        assert_eq!(v["arguments"][0]["reason"], "Out of stock: KB-001");
        assert_eq!(v["arguments"][0]["newStatus"], "Cancelled");
    }

    #[test]
    fn the_direct_encoding_equals_serde_json() {
        for text in [
            "ORD-1",
            "",
            "quote \" backslash \\ slash /",
            "control \u{1} \u{1f} separator \u{1e} newline \n tab \t",
            "unicode é 漢字 🚀 \u{2028}",
        ] {
            let m = OrderStatusChanged {
                order_id: format!("{text}-id"),
                order_number: text.to_owned(),
                new_status: "Shipped",
                old_status: "Confirmed",
                // Every text case through the third free-text field as well.
                reason: format!("reason: {text}"),
                updated_at: at("2026-11-25T14:00:00.123456789Z"),
                position: Position {
                    stream: StreamName::Orders,
                    sequence: u64::MAX,
                },
            };
            let serde = messages::invocation("OrderStatusChanged", &m);
            assert_eq!(m.encode_json(), serde, "{text:?}");
        }
        // The empty reason (most status changes) and a missing time.
        let m = cancelled("");
        assert_eq!(
            m.encode_json(),
            messages::invocation("OrderStatusChanged", &m)
        );
    }

    #[test]
    fn resume_results() {
        let ok = json(&ClientMethod::Resumed(ResumeResult::new(3, vec![])));
        assert_eq!(
            ok,
            "{\"type\":1,\"target\":\"Resumed\",\"arguments\":[{\"status\":\"ok\",\"replayed\":3}]}\u{1e}"
        );
        let reload = serde_json::to_value(ResumeResult::new(0, vec!["ORDERS"])).unwrap();
        assert_eq!(
            reload,
            serde_json::json!({"status":"reload","replayed":0,"streams":["ORDERS"]})
        );
    }

    #[test]
    fn integer_total_with_currency_and_alert_shape() {
        let m = ClientMethod::NewOrderCreated(NewOrderCreated {
            order_id: "o".into(),
            order_number: "ORD-2".into(),
            customer_name: "Ada \u{1e} Lovelace".into(),
            total_minor: 1234,
            currency: "JPY".into(),
            created_at: at("2026-11-25T14:00:00Z"),
            position: Position {
                stream: StreamName::Orders,
                sequence: 1,
            },
        });
        let frame = json(&m);
        assert_eq!(
            frame.matches('\u{1e}').count(),
            1,
            "separator inside a string is escaped"
        );
        assert!(
            frame.contains("\"totalMinor\":1234,\"currency\":\"JPY\""),
            "{frame}"
        );
        assert!(
            !frame.contains("\"total\":"),
            "the float total is gone: {frame}"
        );
        let alert = ClientMethod::LowStockAlert(LowStockAlert {
            product_id: "p".into(),
            sku: "SKU-1".into(),
            stock_level: 4,
            threshold: 5,
            position: Position {
                stream: StreamName::Inventory,
                sequence: 3,
            },
        });
        assert!(json(&alert).contains(
            "\"arguments\":[{\"productId\":\"p\",\"sku\":\"SKU-1\",\"stockLevel\":4,\"threshold\":5,\"position\":\"INVENTORY:3\"}]"
        ));
    }

    #[test]
    fn times_are_strings_in_json_and_timestamp_extensions_in_messagepack() {
        assert_eq!(at("2026-11-25T14:00:00Z").rfc3339(), "2026-11-25T14:00:00Z");
        assert_eq!(HubTime::default().rfc3339(), "");
        let body = |time: HubTime| rmp_serde::to_vec_named(&time).unwrap();
        // 32 bits: whole seconds. 2026-11-25T14:00:00Z = 1_795_615_200 s = 0x6B06_E9E0.
        assert_eq!(
            body(at("2026-11-25T14:00:00Z")),
            [0xD6, 0xFF, 0x6B, 0x06, 0xE9, 0xE0]
        );
        // 64 bits: nanoseconds in the upper 30 bits.
        let with_nanos = body(at("2026-11-25T14:00:00.5Z"));
        assert_eq!(&with_nanos[..2], &[0xD7, 0xFF]);
        let packed = u64::from_be_bytes(with_nanos[2..].try_into().unwrap());
        assert_eq!(
            (packed >> 34, packed & ((1 << 34) - 1)),
            (500_000_000, 1_795_615_200)
        );
        // 96 bits: before 1970.
        let old = body(at("1969-12-31T23:59:59Z"));
        assert_eq!(&old[..3], &[0xC7, 12, 0xFF]);
        assert_eq!(
            &old[3..],
            &[0, 0, 0, 0, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF]
        );
        assert_eq!(body(HubTime::default()), [0xC0]);
    }

    #[test]
    fn messagepack_invocations_carry_the_json_fields() {
        let m = shipped("o-1");
        let Frame::Binary(frame) = m.encode(Protocol::MessagePack) else {
            panic!("MessagePack frames are binary");
        };
        let bodies = msgpack::split_messages(&frame).unwrap();
        // [1, {}, nil, "OrderStatusChanged", [{orderId, …, updatedAt: ext -1, position}]]
        let body = bodies[0];
        assert_eq!(&body[..4], &[0x95, 0x01, 0x80, 0xC0]);
        let expected_keys = [
            "orderId",
            "orderNumber",
            "newStatus",
            "oldStatus",
            "reason",
            "updatedAt",
            "position",
        ];
        for key in expected_keys {
            assert!(
                body.windows(key.len()).any(|w| w == key.as_bytes()),
                "{key} missing"
            );
        }
        assert!(
            body.windows(2).any(|w| w == [0xD6, 0xFF]),
            "timestamp extension"
        );
        assert!(body.ends_with(b"ORDERS:9"));
    }

    #[test]
    fn messagepack_payloads_hold_the_reason_integer_money_and_stock_levels() {
        let (target, status) = msgpack_argument(&ClientMethod::OrderStatusChanged(cancelled(
            "Out of stock: KB-001 \u{1e} é",
        )));
        assert_eq!(target, "OrderStatusChanged");
        assert_eq!(
            status,
            serde_json::json!({"orderId":"o-2","orderNumber":"ORD-2","newStatus":"Cancelled",
                "oldStatus":"Confirmed","reason":"Out of stock: KB-001 \u{1e} é",
                "updatedAt":null,"position":"ORDERS:10"})
        );

        let created = ClientMethod::NewOrderCreated(NewOrderCreated {
            order_id: "o".into(),
            order_number: "ORD-3".into(),
            customer_name: "Ada".into(),
            total_minor: 4250,
            currency: "EUR".into(),
            created_at: HubTime::default(),
            position: Position {
                stream: StreamName::Orders,
                sequence: 11,
            },
        });
        let (_, created_value) = msgpack_argument(&created);
        assert_eq!(created_value["totalMinor"], serde_json::json!(4250));
        assert!(
            created_value["totalMinor"].is_i64(),
            "an integer, not a float: {created_value}"
        );
        assert_eq!(created_value["currency"], "EUR");
        assert!(created_value.get("total").is_none());

        let stock = ClientMethod::StockLevelChanged(StockLevelChanged {
            product_id: "p".into(),
            sku: "KB-001".into(),
            stock_level: 7,
            version: 12,
        });
        let (target, stock_value) = msgpack_argument(&stock);
        assert_eq!(target, "StockLevelChanged");
        assert_eq!(
            stock_value,
            serde_json::json!({"productId":"p","sku":"KB-001","stockLevel":7,"version":12})
        );
        assert_eq!(
            json(&stock),
            "{\"type\":1,\"target\":\"StockLevelChanged\",\"arguments\":[{\"productId\":\"p\",\"sku\":\"KB-001\",\"stockLevel\":7,\"version\":12}]}\u{1e}"
        );
    }
}
