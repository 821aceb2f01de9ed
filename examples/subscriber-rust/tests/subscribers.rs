//! Both example subscribers (this crate, and `examples/subscriber-ts` run by Node) against a
//! real nats-server: the streams are created as the services create them, order events are
//! published the way the outbox relay publishes them, and each subscriber must receive every
//! order event once, in stream order, decoded into the right type with the right fields, and
//! ack it, so that a restarted subscriber gets nothing twice and then only new events.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use async_nats::HeaderMap;
use async_nats::jetstream::{self, consumer::PullConsumer};
use orderflow_events::common::v1::EventMetadata;
use orderflow_events::inventory::v1::ProductUpserted;
use orderflow_events::orders::v1::{
    OrderCancelled, OrderConfirmed, OrderCreated, OrderLine, OrderStatus, OrderStatusChanged,
};
use orderflow_events::{AnyEvent, Event, headers, streams, timestamp};
use orderflow_example_subscriber::{order_consumer, run};
use orderflow_outbox::{StreamSettings, ensure_streams};
use orderflow_test_support::NatsServer;
use serde_json::{Value, json};
use time::OffsetDateTime;
use uuid::Uuid;

/// What a subscriber reported for one event.
#[derive(Debug)]
struct Got {
    stream_sequence: u64,
    subject: String,
    event: Decoded,
}

/// The decoded event: the Rust subscriber hands over the value itself, the TypeScript one
/// prints its schema name and the event in the protobuf JSON mapping.
#[derive(Debug)]
enum Decoded {
    Rust(Box<AnyEvent>),
    Json { schema: String, event: Value },
}

/// One of the example subscribers.
trait Subscriber {
    /// The name of its durable consumer.
    fn durable(&self) -> &str;
    /// Runs it until it is idle and returns what it got.
    async fn run_until_idle(&self, nats_url: &str) -> Vec<Got>;
}

struct RustSubscriber {
    durable: &'static str,
}

impl Subscriber for RustSubscriber {
    fn durable(&self) -> &str {
        self.durable
    }

    async fn run_until_idle(&self, nats_url: &str) -> Vec<Got> {
        // A fresh connection and consumer handle each time, as after a process restart.
        let client = async_nats::connect(nats_url).await.unwrap();
        let js = jetstream::new(client.clone());
        let consumer = order_consumer(&js, self.durable, "orders.v1.>")
            .await
            .unwrap();
        let mut got = Vec::new();
        run(&consumer, Some(Duration::from_secs(1)), |received| {
            got.push(Got {
                stream_sequence: received.stream_sequence,
                subject: received.subject,
                event: Decoded::Rust(Box::new(received.event)),
            });
            Ok(())
        })
        .await
        .unwrap();
        client.drain().await.unwrap();
        got
    }
}

struct TsSubscriber {
    dir: PathBuf,
    durable: &'static str,
}

impl TsSubscriber {
    /// Installs (once) and compiles the example, so the run below uses the current code
    /// and the committed TypeScript bindings it links to.
    fn build() -> Self {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../subscriber-ts");
        if !dir.join("node_modules").exists() {
            let status = Command::new("npm")
                .args(["ci", "--no-audit", "--no-fund", "--silent"])
                .current_dir(&dir)
                .status()
                .expect("npm must be installed to test examples/subscriber-ts");
            assert!(status.success(), "npm ci in examples/subscriber-ts failed");
        }
        let status = Command::new("node")
            .args(["node_modules/typescript/bin/tsc", "-p", "."])
            .current_dir(&dir)
            .status()
            .expect("node must be installed to test examples/subscriber-ts");
        assert!(status.success(), "tsc failed in examples/subscriber-ts");
        Self {
            dir,
            durable: "example-test-ts",
        }
    }
}

impl Subscriber for TsSubscriber {
    fn durable(&self) -> &str {
        self.durable
    }

    async fn run_until_idle(&self, nats_url: &str) -> Vec<Got> {
        let output = tokio::process::Command::new("node")
            .arg("dist/main.js")
            .current_dir(&self.dir)
            .env("NATS_URL", nats_url)
            .env("ORDERFLOW_DURABLE", self.durable)
            .env("ORDERFLOW_EXIT_WHEN_IDLE_MS", "1500")
            .kill_on_drop(true)
            .output()
            .await
            .unwrap();
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(
            output.status.success(),
            "TS subscriber failed ({}):\n{stdout}\n{}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        );
        stdout
            .lines()
            .map(|line| {
                let v: Value = serde_json::from_str(line)
                    .unwrap_or_else(|e| panic!("not a JSON line: {line:?}: {e}"));
                Got {
                    stream_sequence: v["seq"].as_u64().unwrap(),
                    subject: v["subject"].as_str().unwrap().to_owned(),
                    event: Decoded::Json {
                        schema: v["schema"].as_str().unwrap().to_owned(),
                        event: v["event"].clone(),
                    },
                }
            })
            .collect()
    }
}

#[tokio::test]
async fn rust_subscriber_receives_every_order_event_once_in_order() {
    scenario(&RustSubscriber {
        durable: "example-test-rust",
    })
    .await;
}

#[tokio::test]
async fn ts_subscriber_receives_every_order_event_once_in_order() {
    let subscriber = tokio::task::spawn_blocking(TsSubscriber::build)
        .await
        .unwrap();
    scenario(&subscriber).await;
}

/// Publish, consume, restart, publish more, consume again; checking every step.
async fn scenario(subscriber: &impl Subscriber) {
    let nats = NatsServer::start().await;
    let client = async_nats::connect(nats.url()).await.unwrap();
    let js = jetstream::new(client);
    ensure_streams(&js, &StreamSettings::default())
        .await
        .unwrap();

    let customer = Uuid::now_v7();
    let (first, second) = (Uuid::now_v7(), Uuid::now_v7());
    let mut published = Vec::new();
    for event in order_lifecycle(customer, first) {
        published.push(publish_any(&js, event).await);
    }
    // Inventory events live in another stream; an order subscriber must not see them.
    publish_product(&js).await;
    let created = order_lifecycle(customer, second).remove(0);
    published.push(publish_any(&js, created).await);

    let got = subscriber.run_until_idle(&nats.url()).await;
    assert_received(&got, &published);
    assert_all_acked(&js, subscriber.durable(), published.len()).await;

    // A restart resumes after the last ack: nothing comes twice.
    let again = subscriber.run_until_idle(&nats.url()).await;
    assert!(again.is_empty(), "redelivered after restart: {again:?}");

    // And what is published while it is away comes next, once.
    let mut later = Vec::new();
    for event in order_lifecycle(customer, second).into_iter().skip(1) {
        later.push(publish_any(&js, event).await);
    }
    let got = subscriber.run_until_idle(&nats.url()).await;
    assert_received(&got, &later);
    assert_all_acked(&js, subscriber.durable(), published.len() + later.len()).await;
}

/// A published event and where JetStream stored it.
struct Published {
    stream_sequence: u64,
    subject: String,
    event: AnyEvent,
}

/// Publishes like the outbox relay: the event's subject, the contract headers (`Nats-Msg-Id`
/// included) and the protobuf payload; waits for the stream's ack.
async fn publish<E: Event + Into<AnyEvent>>(js: &jetstream::Context, event: E) -> Published {
    let subject = event.subject().unwrap();
    let mut header_map = HeaderMap::new();
    for (name, value) in headers::for_event(&event).unwrap() {
        header_map.insert(name, value.as_str());
    }
    let ack = js
        .publish_with_headers(subject.clone(), header_map, event.encode_to_vec().into())
        .await
        .unwrap()
        .await
        .unwrap();
    assert!(!ack.duplicate);
    Published {
        stream_sequence: ack.sequence,
        subject,
        event: event.into(),
    }
}

async fn publish_product(js: &jetstream::Context) {
    let product = Uuid::now_v7();
    let event = ProductUpserted {
        metadata: Some(EventMetadata::new(product, 1, committed_at())),
        product_id: product.to_string(),
        sku: "KB-001".into(),
        name: "Keyboard".into(),
        unit_price_minor: 4_999,
        currency: "EUR".into(),
        low_stock_threshold: 5,
    };
    let stored = publish(js, event).await;
    assert_eq!(
        js.get_stream(streams::INVENTORY)
            .await
            .unwrap()
            .info()
            .await
            .unwrap()
            .state
            .messages,
        1,
        "{} went to INVENTORY",
        stored.subject
    );
}

/// A whole-second commit time, so the JSON mapping's RFC 3339 text is predictable.
fn committed_at() -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(1_796_000_000).unwrap()
}

/// Created, confirmed (with its status change) and cancelled (with its status change):
/// versions 1 to 6 of one order.
fn order_lifecycle(customer: Uuid, order: Uuid) -> Vec<AnyEvent> {
    let meta = |version| Some(EventMetadata::new(order, version, committed_at()));
    let at = Some(timestamp::to_timestamp(committed_at()));
    let lines = vec![OrderLine {
        sku: "KB-001".into(),
        product_name: "Keyboard".into(),
        quantity: 2,
        unit_price_minor: 4_999,
        line_total_minor: 9_998,
    }];
    let number = format!("ORD-2026-{}", &order.simple().to_string()[24..]);
    let status = |version, old: OrderStatus, new: OrderStatus| OrderStatusChanged {
        metadata: meta(version),
        order_id: order.to_string(),
        order_number: number.clone(),
        customer_id: customer.to_string(),
        old_status: old.into(),
        new_status: new.into(),
        updated_at: at,
        reason: String::new(),
    };
    let created = OrderCreated {
        metadata: meta(1),
        order_id: order.to_string(),
        order_number: number.clone(),
        customer_id: customer.to_string(),
        customer_name: "Ada".into(),
        lines: lines.clone(),
        total_minor: 9_998,
        currency: "EUR".into(),
        created_at: at,
    };
    vec![
        created.clone().into(),
        OrderConfirmed::of(created, meta(2), at).into(),
        status(3, OrderStatus::Draft, OrderStatus::Confirmed).into(),
        OrderCancelled {
            metadata: meta(4),
            order_id: order.to_string(),
            order_number: number.clone(),
            customer_id: customer.to_string(),
            lines,
            reason: "changed my mind".into(),
            cancelled_at: at,
        }
        .into(),
        status(5, OrderStatus::Confirmed, OrderStatus::Cancelled).into(),
    ]
}

/// Publishes the concrete message inside an `AnyEvent` with [`publish`].
async fn publish_any(js: &jetstream::Context, event: AnyEvent) -> Published {
    match event {
        AnyEvent::OrderCreated(e) => publish(js, e).await,
        AnyEvent::OrderConfirmed(e) => publish(js, e).await,
        AnyEvent::OrderStatusChanged(e) => publish(js, e).await,
        AnyEvent::OrderCancelled(e) => publish(js, e).await,
        AnyEvent::ProductUpserted(e) => publish(js, e).await,
        AnyEvent::StockLevelChanged(e) => publish(js, e).await,
        AnyEvent::ReservationRejected(e) => publish(js, e).await,
    }
}

/// Every published event exactly once, in stream order, decoded into the right type.
fn assert_received(got: &[Got], published: &[Published]) {
    let sequences = |g: &[Got]| g.iter().map(|g| g.stream_sequence).collect::<Vec<_>>();
    assert_eq!(
        sequences(got),
        published
            .iter()
            .map(|p| p.stream_sequence)
            .collect::<Vec<_>>(),
        "every event once, in stream order"
    );
    for (got, published) in got.iter().zip(published) {
        assert_eq!(got.subject, published.subject);
        match &got.event {
            Decoded::Rust(event) => assert_eq!(event.as_ref(), &published.event),
            Decoded::Json { schema, event } => {
                assert_eq!(schema, published.event.schema_name());
                assert_eq!(event, &expected_json(&published.event));
            }
        }
    }
}

/// The consumer acked everything: nothing pending or awaiting an ack, and nothing was
/// delivered more than once (`delivered` counts deliveries, redeliveries included).
async fn assert_all_acked(js: &jetstream::Context, durable: &str, published: usize) {
    let mut consumer: PullConsumer = js
        .get_consumer_from_stream(durable, streams::ORDERS)
        .await
        .unwrap();
    let info = consumer.info().await.unwrap();
    assert_eq!(info.num_ack_pending, 0, "{info:?}");
    assert_eq!(info.num_pending, 0, "{info:?}");
    assert_eq!(
        info.delivered.consumer_sequence, published as u64,
        "{info:?}"
    );
    assert_eq!(
        info.ack_floor.consumer_sequence, published as u64,
        "{info:?}"
    );
    assert_eq!(info.num_redelivered, 0, "{info:?}");
}

/// An order event in the proto3 JSON mapping, as protobuf-es' `toJson` writes it: field
/// names in lowerCamelCase, 64-bit integers as strings, enums by name, timestamps in
/// RFC 3339, and fields with their zero value left out.
fn expected_json(event: &AnyEvent) -> Value {
    let metadata = event.metadata().unwrap();
    let mut json = json!({
        "metadata": {
            "eventId": metadata.event_id,
            "aggregateId": metadata.aggregate_id,
            "aggregateVersion": metadata.aggregate_version.to_string(),
            "committedAt": "2026-11-30T00:53:20Z",
        },
    });
    let lines = |lines: &[OrderLine]| -> Value {
        lines
            .iter()
            .map(|l| {
                json!({
                    "sku": l.sku,
                    "productName": l.product_name,
                    "quantity": l.quantity,
                    "unitPriceMinor": l.unit_price_minor.to_string(),
                    "lineTotalMinor": l.line_total_minor.to_string(),
                })
            })
            .collect()
    };
    let fields = match event {
        AnyEvent::OrderCreated(e) => json!({
            "orderId": e.order_id, "orderNumber": e.order_number, "customerId": e.customer_id,
            "customerName": e.customer_name, "lines": lines(&e.lines),
            "totalMinor": e.total_minor.to_string(), "currency": e.currency,
            "createdAt": "2026-11-30T00:53:20Z",
        }),
        AnyEvent::OrderConfirmed(e) => json!({
            "orderId": e.order_id, "orderNumber": e.order_number, "customerId": e.customer_id,
            "customerName": e.customer_name, "lines": lines(&e.lines),
            "totalMinor": e.total_minor.to_string(), "currency": e.currency,
            "confirmedAt": "2026-11-30T00:53:20Z",
        }),
        AnyEvent::OrderStatusChanged(e) => json!({
            "orderId": e.order_id, "orderNumber": e.order_number, "customerId": e.customer_id,
            "oldStatus": e.old_status().as_str_name(), "newStatus": e.new_status().as_str_name(),
            "updatedAt": "2026-11-30T00:53:20Z",
        }),
        AnyEvent::OrderCancelled(e) => json!({
            "orderId": e.order_id, "orderNumber": e.order_number, "customerId": e.customer_id,
            "lines": lines(&e.lines), "reason": e.reason,
            "cancelledAt": "2026-11-30T00:53:20Z",
        }),
        other => panic!("not an order event: {other:?}"),
    };
    for (key, value) in fields.as_object().unwrap() {
        json[key] = value.clone();
    }
    json
}
