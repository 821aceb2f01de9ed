//! Writes the committed seed corpus, `fuzz/corpus/<target>/`: real handshakes and hub frames as
//! the official client sends them, real encoded events with the headers producers and JetStream
//! set, real tokens and request bodies — each in its target's input layout.
//!
//! `cargo +nightly run --manifest-path fuzz/Cargo.toml --example seeds` (it overwrites these
//! files and leaves any others alone). Run it when an input layout changes.

use std::path::{Path, PathBuf};
use std::time::Duration;

use orderflow_auth::dev::{DevClaims, issue_hs256};
use orderflow_events::common::v1::EventMetadata;
use orderflow_events::inventory::v1 as inventory;
use orderflow_events::orders::v1 as orders;
use orderflow_events::{AnyEvent, Event, headers};
use orderflow_fuzz::event::{EventInput, Name, Value};
use orderflow_fuzz::rest::{BodyInput, Endpoint};
use orderflow_fuzz::token::{
    AUDIENCE, CONNECTION_SECRET, FAR_FUTURE, ISSUER, SECRET, Signature, TokenInput, assemble,
};
use orderflow_fuzz::{hub, token};
use orderflow_gateway::connection_token::{TokenKey, issue};
use orderflow_gateway::protocol::msgpack::write_message;
use serde_json::json;
use uuid::Uuid;

const CUSTOMER: Uuid = Uuid::from_u128(0x0193_0000_0000_7000_8000_0000_0000_c001);
const ORDER: Uuid = Uuid::from_u128(0x0193_5e1a_3c00_7a10_9f00_0000_0000_0042);
const PRODUCT: Uuid = Uuid::from_u128(0x0193_5e1a_3c00_7b20_8e00_0000_0000_0007);
const EVENT: Uuid = Uuid::from_u128(0x0193_5e1a_3c01_7c30_a100_0000_0000_0001);

fn main() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus");
    hub_frames(&root.join("hub_frames"));
    hub_msgpack(&root.join("hub_msgpack"));
    event_decode(&root.join("event_decode"));
    auth_token(&root.join("auth_token"));
    rest_bodies(&root.join("rest_bodies"));
}

fn write(dir: &Path, name: &str, bytes: &[u8]) {
    std::fs::create_dir_all(dir).expect("create the corpus directory");
    let path: PathBuf = dir.join(name);
    std::fs::write(&path, bytes).expect("write a seed");
    println!("{} ({} bytes)", path.display(), bytes.len());
}

fn hub_frames(dir: &Path) {
    const V1: &str = "{\"protocol\":\"json\",\"version\":1}\u{1e}";
    const V2: &str = "{\"protocol\":\"json\",\"version\":2}\u{1e}";
    let seeds: [(&str, Vec<&str>); 11] = [
        ("handshake-v1", vec![V1]),
        (
            "join-dashboard-v2",
            vec![
                V2,
                "{\"arguments\":[],\"invocationId\":\"0\",\"target\":\"JoinAdminDashboard\",\"type\":1}\u{1e}",
                "{\"type\":6}\u{1e}",
                "{\"type\":8,\"sequenceId\":3}\u{1e}",
            ],
        ),
        (
            "resume-array",
            vec![
                V1,
                "{\"target\":\"Resume\",\"arguments\":[[\"ORDERS:1042\",\"INVENTORY:77\"]],\"invocationId\":\"1\",\"type\":1}\u{1e}",
            ],
        ),
        (
            "resume-string-and-leave",
            vec![
                V2,
                "{\"arguments\":[\"ORDERS:12\"],\"invocationId\":\"2\",\"target\":\"Resume\",\"type\":1}\u{1e}{\"arguments\":[],\"target\":\"LeaveAdminDashboard\",\"type\":1}\u{1e}",
            ],
        ),
        (
            "reattach-sequence",
            vec![
                V2,
                "{\"type\":9,\"sequenceId\":1}\u{1e}{\"arguments\":[],\"invocationId\":\"3\",\"target\":\"JoinAdminDashboard\",\"type\":1}\u{1e}",
                "{\"type\":8,\"sequenceId\":1}\u{1e}",
            ],
        ),
        (
            "close",
            vec![
                V1,
                "{\"type\":7,\"error\":\"Connection stopped\",\"allowReconnect\":true}\u{1e}",
            ],
        ),
        (
            "streams",
            vec![
                V1,
                "{\"type\":4,\"invocationId\":\"5\",\"target\":\"Counter\",\"arguments\":[10,500]}\u{1e}",
                "{\"type\":1,\"invocationId\":\"6\",\"target\":\"Upload\",\"arguments\":[],\"streamIds\":[\"7\"]}\u{1e}{\"type\":2,\"invocationId\":\"7\",\"item\":{\"a\":1.5}}\u{1e}{\"type\":3,\"invocationId\":\"7\"}\u{1e}",
                "{\"type\":5,\"invocationId\":\"5\"}\u{1e}",
            ],
        ),
        (
            "unknown-type-and-headers",
            vec![
                V1,
                "{\"type\":42,\"x\":1}\u{1e}",
                "{\"type\":1,\"headers\":{\"k\":\"v\"},\"target\":\"joinadmindashboard\",\"arguments\":[null,true,-1e300,\"\\u001e\"],\"invocationId\":\"\\u00e9\"}\u{1e}",
            ],
        ),
        (
            "refused-protocol",
            vec!["{\"protocol\":\"blazorpack\",\"version\":1}\u{1e}"],
        ),
        (
            "messagepack-handshake",
            vec!["{\"protocol\":\"messagepack\",\"version\":2}\u{1e}"],
        ),
        ("partial-record", vec![V1, "{\"type\":6}\u{1e}{\"type\":"]),
    ];
    for (name, frames) in seeds {
        write(dir, name, &hub::to_bytes(&frames));
    }
}

/// Binary messages as `@microsoft/signalr-protocol-msgpack` sends them: `[type, headers, …]`
/// arrays behind VarInt length prefixes, several per message where the client batches them.
fn hub_msgpack(dir: &Path) {
    let frame = |messages: &[serde_json::Value]| {
        let mut out = Vec::new();
        for m in messages {
            let body = rmp_serde::to_vec_named(m).expect("JSON values encode");
            write_message(&mut out, &body);
        }
        out
    };
    let seeds = [
        (
            "join-dashboard",
            frame(&[json!([1, {}, "0", "JoinAdminDashboard", [], []])]),
        ),
        (
            "resume-array",
            frame(&[json!([
                1,
                {},
                "1",
                "Resume",
                [["ORDERS:1042", "INVENTORY:77"]],
                []
            ])]),
        ),
        (
            "ping-ack-sequence",
            frame(&[json!([6]), json!([8, 3]), json!([9, 1])]),
        ),
        ("close", frame(&[json!([7, "Connection stopped", true])])),
        (
            "streams-and-completions",
            frame(&[
                json!([4, {}, "5", "Counter", [10, 500], []]),
                json!([2, {}, "7", {"a": 1.5}]),
                json!([3, {}, "7", 2]),
                json!([3, {"k": "v"}, "8", 3, [1, "x"]]),
                json!([5, {}, "5"]),
            ]),
        ),
        (
            "unknown-type",
            frame(&[
                json!([42, "x"]),
                json!([1, {}, null, "Log", [null, true, -1e300]]),
            ]),
        ),
    ];
    for (name, bytes) in seeds {
        write(dir, name, &bytes);
    }
    // A long message: a two-byte length prefix.
    write(
        dir,
        "long-invocation",
        &frame(&[json!([1, {}, "9", "Resume", ["ORDERS:1".repeat(40)], []])]),
    );
}

fn metadata(version: u64) -> Option<EventMetadata> {
    Some(EventMetadata {
        event_id: EVENT.hyphenated().to_string(),
        aggregate_id: ORDER.hyphenated().to_string(),
        aggregate_version: version,
        committed_at: Some(orderflow_events::Timestamp {
            seconds: 1_796_000_000,
            nanos: 123_456_789,
        }),
    })
}

fn line() -> orders::OrderLine {
    orders::OrderLine {
        sku: "WIDGET-1".into(),
        product_name: "Widget".into(),
        quantity: 2,
        unit_price_minor: 1999,
        line_total_minor: 3998,
    }
}

/// An `OrderCreated` or `OrderConfirmed` of the seed order (`line()` twice over) at aggregate
/// version `$version`, with the event's own time stamp field set to `$at`.
macro_rules! placed_order {
    ($($event:ident)::+, $version:expr, $at_field:ident: $at:expr) => {
        $($event)::+ {
            metadata: metadata($version),
            order_id: ORDER.to_string(),
            order_number: "ORD-2026-000042".into(),
            customer_id: CUSTOMER.to_string(),
            customer_name: "Carla Customer".into(),
            lines: vec![line()],
            total_minor: 3998,
            currency: "USD".into(),
            $at_field: $at,
        }
    };
}

fn event_decode(dir: &Path) {
    let at = Some(orderflow_events::Timestamp {
        seconds: 1_796_000_000,
        nanos: 0,
    });
    let events: Vec<(&str, AnyEvent, &str)> = vec![
        (
            "order-created",
            placed_order!(orders::OrderCreated, 1, created_at: at).into(),
            "ORDERS",
        ),
        (
            "order-confirmed",
            placed_order!(orders::OrderConfirmed, 2, confirmed_at: at).into(),
            "ORDERS",
        ),
        (
            "order-status-changed",
            orders::OrderStatusChanged {
                metadata: metadata(3),
                order_id: ORDER.to_string(),
                order_number: "ORD-2026-000042".into(),
                customer_id: CUSTOMER.to_string(),
                old_status: orders::OrderStatus::Confirmed as i32,
                new_status: orders::OrderStatus::Shipped as i32,
                updated_at: at,
                reason: String::new(),
            }
            .into(),
            "ORDERS",
        ),
        (
            "order-cancelled",
            orders::OrderCancelled {
                metadata: metadata(4),
                order_id: ORDER.to_string(),
                order_number: "ORD-2026-000042".into(),
                customer_id: CUSTOMER.to_string(),
                lines: vec![line()],
                reason: "Cancelled by the customer".into(),
                cancelled_at: at,
            }
            .into(),
            "ORDERS",
        ),
        (
            "product-upserted",
            inventory::ProductUpserted {
                metadata: metadata(1),
                product_id: PRODUCT.to_string(),
                sku: "WIDGET-1".into(),
                name: "Widget".into(),
                unit_price_minor: 1999,
                currency: "USD".into(),
                low_stock_threshold: 10,
            }
            .into(),
            "INVENTORY",
        ),
        (
            "stock-level-changed",
            inventory::StockLevelChanged {
                metadata: metadata(5),
                product_id: PRODUCT.to_string(),
                sku: "WIDGET-1".into(),
                old_level: 12,
                new_level: 8,
                threshold: 10,
                reason: "reserved".into(),
                order_id: ORDER.to_string(),
            }
            .into(),
            "INVENTORY",
        ),
        (
            "reservation-rejected",
            inventory::ReservationRejected {
                metadata: metadata(6),
                order_id: ORDER.to_string(),
                customer_id: CUSTOMER.to_string(),
                reason: "insufficient stock".into(),
                shortages: vec![inventory::reservation_rejected::Shortage {
                    sku: "WIDGET-1".into(),
                    requested: 5,
                    available: 2,
                }],
            }
            .into(),
            "INVENTORY",
        ),
    ];
    for (i, (name, event, stream)) in events.iter().enumerate() {
        let subject = event.subject().expect("a valid subject");
        let live = orderflow_events::subjects::live(&subject);
        let payload = event.encode_to_vec();
        let version = event.metadata().map_or(0, |m| m.aggregate_version);
        let event_id = EVENT.to_string();
        let input = EventInput {
            headers: vec![
                (Name::Known(headers::MSG_ID), Value::Raw(&event_id)),
                (
                    Name::Known(headers::CONTENT_TYPE),
                    Value::Raw(headers::CONTENT_TYPE_PROTOBUF),
                ),
                (
                    Name::Known(headers::SCHEMA),
                    Value::Schema(event.schema_name()),
                ),
                (
                    Name::Known(headers::AGGREGATE_VERSION),
                    Value::Number(version),
                ),
                (Name::Known(headers::NATS_STREAM), Value::Stream(stream)),
                (
                    Name::Known(headers::NATS_SEQUENCE),
                    Value::Number(1000 + i as u64),
                ),
                (Name::Known(headers::NATS_SUBJECT), Value::Raw(&subject)),
            ],
            subject: &live,
            payload: &payload,
        };
        write(dir, name, &input.to_bytes());
    }
    // The same order event through a direct get: no republish headers, the stored subject.
    let created = &events[0].1;
    let subject = created.subject().expect("a valid subject");
    let payload = created.encode_to_vec();
    let input = EventInput {
        headers: vec![(
            Name::Known(headers::SCHEMA),
            Value::Schema(<orders::OrderCreated as Event>::SCHEMA_NAME),
        )],
        subject: &subject,
        payload: &payload,
    };
    write(dir, "order-created-direct", &input.to_bytes());
    // A schema no consumer knows, with a custom header.
    let input = EventInput {
        headers: vec![
            (
                Name::Known(headers::SCHEMA),
                Value::Raw("orderflow.orders.v2.OrderCreated"),
            ),
            (Name::Custom("X-Trace"), Value::Raw("abc")),
        ],
        subject: "orders.v2.x",
        payload: &payload,
    };
    write(dir, "unknown-schema", &input.to_bytes());
}

fn auth_token(dir: &Path) {
    let header = br#"{"alg":"HS256","typ":"JWT"}"#;
    let claims = json!({
        "sub": CUSTOMER.to_string(), "iss": ISSUER, "aud": AUDIENCE, "iat": 1_796_000_000,
        "nbf": 1_796_000_000, "exp": FAR_FUTURE, "name": "Carla Customer",
        "role": "Customer", "roles": ["Admin", "Support"],
    })
    .to_string();
    // A token as the repository's own issuer mints them, valid until about 2100.
    let mut dev = DevClaims::new(CUSTOMER)
        .name("Ada Admin")
        .role("Admin")
        .ttl(Duration::from_secs(FAR_FUTURE - 1_796_000_000));
    dev.issuer = ISSUER.into();
    dev.audience = AUDIENCE.into();
    let minted = issue_hs256(SECRET, dev);
    let signed = assemble(header, claims.as_bytes(), Signature::Right);
    assert!(token::signed_by_secret(&signed) && token::signed_by_secret(&minted));

    let bearer = format!("Bearer {minted}");
    let uri = format!("/hubs/orders?id=abc&access_token={signed}&resume=ORDERS%3A12");
    let (_, connection) = issue(
        &TokenKey::from_secret(CONNECTION_SECRET),
        CUSTOMER,
        true,
        FAR_FUTURE,
    );
    let expired = json!({"sub": CUSTOMER.to_string(), "iss": ISSUER, "aud": [AUDIENCE, "other"],
                         "exp": 1_600_000_000})
    .to_string();
    let seeds: Vec<(&str, TokenInput<'_>)> = vec![
        ("header-bearer", TokenInput::Header(bearer.as_bytes())),
        ("header-basic", TokenInput::Header(b"Basic dXNlcjpwdw==")),
        ("uri-access-token", TokenInput::Uri(&uri)),
        ("raw-minted", TokenInput::Raw(&minted)),
        (
            "signed-right",
            TokenInput::Signed {
                signature: Signature::Right,
                header,
                claims: claims.as_bytes(),
            },
        ),
        (
            "signed-wrong-key",
            TokenInput::Signed {
                signature: Signature::Wrong,
                header,
                claims: claims.as_bytes(),
            },
        ),
        (
            "signed-alg-none",
            TokenInput::Signed {
                signature: Signature::Empty,
                header: br#"{"alg":"none","typ":"JWT"}"#,
                claims: claims.as_bytes(),
            },
        ),
        (
            "signed-expired-aud-array",
            TokenInput::Signed {
                signature: Signature::Right,
                header: br#"{"alg":"HS256","kid":"k1"}"#,
                claims: expired.as_bytes(),
            },
        ),
        (
            "signed-tampered",
            TokenInput::Signed {
                signature: Signature::Tampered(60),
                header,
                claims: claims.as_bytes(),
            },
        ),
        ("connection-token", TokenInput::Connection(&connection)),
    ];
    for (name, input) in seeds {
        write(dir, name, &input.to_bytes());
    }
}

fn rest_bodies(dir: &Path) {
    let cursor = format!("1796000000123456789_{}", ORDER.simple());
    let list_orders = format!("status=Confirmed&limit=20&cursor={cursor}&customerId={CUSTOMER}");
    let seeds: Vec<(&str, Endpoint, usize, bool, Vec<u8>)> = vec![
        (
            "create-order",
            Endpoint::CreateOrder,
            0,
            false,
            br#"{"lines":[{"sku":"WIDGET-1","quantity":2},{"sku":"gadget-7","quantity":1}]}"#
                .to_vec(),
        ),
        (
            "create-order-duplicate-sku",
            Endpoint::CreateOrder,
            1,
            false,
            br#"{"lines":[{"sku":"A-1","quantity":1},{"sku":" a-1 ","quantity":10000}]}"#
                .to_vec(),
        ),
        (
            "create-order-unknown-field",
            Endpoint::CreateOrder,
            0,
            false,
            br#"{"lines":[],"note":"x"}"#.to_vec(),
        ),
        (
            "cancel-reason",
            Endpoint::CancelOrder,
            0,
            false,
            br#"{"reason":"  Ordered the wrong size  "}"#.to_vec(),
        ),
        ("cancel-empty", Endpoint::CancelOrder, 4, true, b" \n".to_vec()),
        (
            "list-orders",
            Endpoint::ListOrders,
            4,
            true,
            list_orders.into_bytes(),
        ),
        (
            "if-match",
            Endpoint::OrderHeaders,
            4,
            false,
            b"\"3\"".to_vec(),
        ),
        (
            "idempotency-key",
            Endpoint::OrderHeaders,
            4,
            false,
            ORDER.to_string().into_bytes(),
        ),
        (
            "create-product",
            Endpoint::CreateProduct,
            0,
            true,
            br#"{"sku":"widget-1","name":" Widget ","unitPrice":"49.99","lowStockThreshold":5,"initialStock":100}"#
                .to_vec(),
        ),
        (
            "update-product",
            Endpoint::UpdateProduct,
            2,
            true,
            br#"{"unitPrice":"5","name":"Widget (blue)"}"#.to_vec(),
        ),
        (
            "adjust-stock",
            Endpoint::AdjustStock,
            0,
            true,
            br#"{"delta":-3,"reason":"cycle count"}"#.to_vec(),
        ),
        (
            "adjust-stock-wrong-type",
            Endpoint::AdjustStock,
            3,
            true,
            br#"{"delta":-3,"reason":"cycle count"}"#.to_vec(),
        ),
        (
            "list-products",
            Endpoint::ListProducts,
            4,
            false,
            b"limit=50&cursor=WIDGET-1".to_vec(),
        ),
    ];
    for (name, endpoint, content_type, admin, body) in &seeds {
        let input = BodyInput {
            endpoint: *endpoint,
            content_type: *content_type,
            admin: *admin,
            body,
        };
        write(dir, name, &input.to_bytes());
    }
}
