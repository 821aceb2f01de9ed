//! W3C trace context end to end (docs/operations.md, "Tracing"): an order is confirmed with a
//! `traceparent` header; the orders request span continues it, the `OrderConfirmed` message
//! carries it, inventory's span applying the reservation continues it, and the stock event
//! inventory writes in that transaction carries it on. The order's creation, sent without a
//! `traceparent`, gets a trace of its own. A gateway's push of the event to browsers is a span
//! of the same trace. Spans reach an in-process OTLP/HTTP receiver, as they would reach a
//! collector.
//!
//! Orders, inventory and the gateway run in this one process (the tracer provider is process-wide), so the
//! spans are told apart by what they are: the orders request by its path, inventory's by its
//! consumer's name.

use std::time::{Duration, Instant};

use async_nats::jetstream;
use orderflow_auth::{AuthSettings, dev};
use orderflow_events::streams;
use orderflow_gateway::{Gateway, GatewaySettings};
use orderflow_inventory::InventoryApp;
use orderflow_orders::OrdersApp;
use orderflow_outbox::StreamSettings;
use orderflow_runtime::telemetry::{self, Tracing};
use orderflow_test_support::jetstream::read_stream;
use orderflow_test_support::service::serve;
use orderflow_test_support::{NatsServer, fresh_database};
use orderflow_tracing_tests::{OtlpReceiver, ReceivedSpan};
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

const SKU: &str = "TRACE-1";
/// Inventory's durable consumer of order events (`orderflow_inventory::reservations::CONSUMER`).
const INVENTORY_CONSUMER: &str = "inventory-orders";
const PATIENCE: Duration = Duration::from_secs(30);

fn auth() -> AuthSettings {
    AuthSettings::hs256(dev::ISSUER, dev::AUDIENCE, dev::SECRET)
}

fn token(user: Uuid, admin: bool) -> String {
    let mut claims = dev::DevClaims::new(user).name("Trace Tester");
    if admin {
        claims = claims.role("Admin");
    }
    dev::issue_hs256(dev::SECRET, claims)
}

fn settings(nats_url: &str) -> orderflow_service::Settings {
    orderflow_service::Settings {
        streams: StreamSettings {
            duplicate_window: Duration::from_secs(120),
            ..StreamSettings::default()
        },
        ..orderflow_service::Settings::local(nats_url.to_owned(), auth())
    }
}

/// Random non-zero hex of `bytes` bytes (a trace or span id).
fn random_hex(bytes: usize) -> String {
    let hex = Uuid::new_v4().simple().to_string() + &Uuid::new_v4().simple().to_string();
    hex[..bytes * 2].to_owned()
}

/// The trace id of a `traceparent` value (`00-<trace id>-<span id>-<flags>`).
fn trace_id_of(traceparent: &str) -> &str {
    traceparent.split('-').nth(1).unwrap_or_default()
}

/// The span id of a `traceparent` value.
fn span_id_of(traceparent: &str) -> &str {
    traceparent.split('-').nth(2).unwrap_or_default()
}

/// `(schema, traceparent)` of every message in `stream` about `aggregate` (its subject names it).
async fn messages_about(
    js: &jetstream::Context,
    stream: &str,
    aggregate: &str,
) -> Vec<(String, Option<String>)> {
    read_stream(js, stream)
        .await
        .into_iter()
        .filter(|m| m.subject.contains(aggregate))
        .map(|m| (m.schema, m.traceparent))
        .collect()
}

/// Polls `check` until it returns something or [`PATIENCE`] runs out.
async fn eventually<T>(what: &str, mut check: impl AsyncFnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + PATIENCE;
    loop {
        if let Some(found) = check().await {
            return found;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_trace_spans_the_orders_request_the_reservation_and_both_events() {
    let (receiver, traces_url) = OtlpReceiver::start().await;
    telemetry::init_with(
        "info",
        false,
        Tracing {
            service_name: "orderflow-trace-test".to_owned(),
            otlp_traces_endpoint: Some(traces_url),
            export_interval: Some(Duration::from_millis(100)),
        },
    );

    let nats = NatsServer::start().await;
    let shutdown = CancellationToken::new();
    let orders_db = fresh_database().await;
    let orders = OrdersApp::connect(orderflow_orders::Config {
        listen: "127.0.0.1:0".parse().unwrap(),
        database_url: orders_db.url.clone().into(),
        db_max_connections: 5,
        common: settings(&nats.url()),
    })
    .await
    .unwrap();
    orders.spawn_background(&shutdown);
    let orders_base = serve(orders.router(), &shutdown).await;
    let inventory_db = fresh_database().await;
    let inventory = InventoryApp::connect(orderflow_inventory::Config {
        listen: "127.0.0.1:0".parse().unwrap(),
        database_url: inventory_db.url.clone().into(),
        db_max_connections: 5,
        consumer_workers: 1,
        common: settings(&nats.url()),
    })
    .await
    .unwrap();
    inventory.spawn_background(&shutdown);
    let inventory_base = serve(inventory.router(), &shutdown).await;
    let http = orderflow_runtime::http::client();
    // A gateway, live on both streams before the traced change, pushes what it receives.
    let gateway = Gateway::build(GatewaySettings::for_tests(nats.url(), auth(), vec![]))
        .await
        .unwrap();
    let gateway_base = format!("http://{}", gateway.local_addr());
    let stop = shutdown.clone();
    tokio::spawn(gateway.run(async move { stop.cancelled().await }));
    eventually("the gateway to be ready", async || {
        let ready = http
            .get(format!("{gateway_base}/readyz"))
            .send()
            .await
            .ok()?;
        ready.status().is_success().then_some(())
    })
    .await;

    // A product in stock, and an order for it once orders has learned of the product.
    let response = http
        .post(format!("{inventory_base}/api/products"))
        .bearer_auth(token(Uuid::new_v4(), true))
        .json(
            &json!({ "sku": SKU, "name": "Traced product", "unitPrice": "1.00",
                       "initialStock": 10, "lowStockThreshold": 1 }),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201, "{:?}", response.text().await);
    let customer = token(Uuid::new_v4(), false);
    let order: Value = eventually("orders to learn of the product", async || {
        let response = http
            .post(format!("{orders_base}/api/orders"))
            .bearer_auth(&customer)
            .json(&json!({ "lines": [{ "sku": SKU, "quantity": 2 }] }))
            .send()
            .await
            .unwrap();
        if response.status() == 201 {
            Some(response.json().await.unwrap())
        } else {
            None
        }
    })
    .await;
    let order_id = order["id"].as_str().unwrap().to_owned();

    // The traced change: the confirmation, made inside the caller's trace.
    let trace_id = random_hex(16);
    let caller_span_id = random_hex(8);
    let started = Instant::now();
    let response = http
        .post(format!("{orders_base}/api/orders/{order_id}/confirm"))
        .bearer_auth(&customer)
        .header("traceparent", format!("00-{trace_id}-{caller_span_id}-01"))
        .send()
        .await
        .unwrap();
    assert!(
        response.status().is_success(),
        "{:?}",
        response.text().await
    );

    // Both events are published carrying the caller's trace id.
    let js = orders.jetstream();
    let confirmed = eventually("OrderConfirmed in ORDERS", async || {
        messages_about(&js, streams::ORDERS, &order_id)
            .await
            .into_iter()
            .find(|(schema, _)| schema.ends_with("OrderConfirmed"))
    })
    .await;
    let traceparent = confirmed
        .1
        .expect("OrderConfirmed has no traceparent header");
    assert_eq!(trace_id_of(&traceparent), trace_id, "{traceparent}");
    // The creation came without a `traceparent`: orders started a trace of its own for it.
    let created = messages_about(&js, streams::ORDERS, &order_id)
        .await
        .into_iter()
        .find(|(schema, _)| schema.ends_with("OrderCreated"))
        .expect("OrderCreated in ORDERS");
    let own = created.1.expect("OrderCreated has no traceparent header");
    assert_eq!(trace_id_of(&own).len(), 32, "{own}");
    assert_ne!(trace_id_of(&own), trace_id, "{own}");
    let traced_stock_events = eventually("a stock event of the reservation", async || {
        let inventory_events = messages_about(&js, streams::INVENTORY, "").await;
        let traced: Vec<_> = inventory_events
            .into_iter()
            .filter(|(schema, tp)| {
                schema == "orderflow.inventory.v1.StockLevelChanged"
                    && tp.as_deref().map(trace_id_of) == Some(trace_id.as_str())
            })
            .collect();
        (!traced.is_empty()).then_some(traced)
    })
    .await;

    // The spans: the orders request continues the caller's span, inventory's reservation
    // continues the trace.
    let spans: Vec<ReceivedSpan> = eventually("the spans of the trace", async || {
        let spans: Vec<ReceivedSpan> = receiver
            .spans()
            .into_iter()
            .filter(|s| s.trace_id == trace_id)
            .collect();
        let request = spans.iter().any(|s| is_confirm_request(s, &order_id));
        let reservation = spans.iter().any(is_reservation);
        let push = spans.iter().any(|s| s.name == "gateway.push");
        (request && reservation && push).then_some(spans)
    })
    .await;
    let request = spans
        .iter()
        .find(|s| is_confirm_request(s, &order_id))
        .unwrap();
    assert_eq!(request.parent_span_id, caller_span_id, "{request:?}");
    assert_eq!(request.service, "orderflow-trace-test");
    // The reservation's parent is the span the order event was written in, and the stock event
    // was written in the reservation's span.
    let reservation = spans.iter().find(|s| is_reservation(s)).unwrap();
    assert_eq!(
        reservation.parent_span_id,
        span_id_of(&traceparent),
        "{reservation:?}"
    );
    assert!(
        traced_stock_events
            .iter()
            .any(|(_, tp)| tp.as_deref().map(span_id_of) == Some(reservation.span_id.as_str())),
        "{traced_stock_events:?} {reservation:?}"
    );
    // The gateway's push of OrderConfirmed is a child of the span that wrote it.
    assert!(
        spans
            .iter()
            .any(|s| s.name == "gateway.push" && s.parent_span_id == span_id_of(&traceparent)),
        "{spans:?}"
    );
    eprintln!(
        "trace {trace_id}: {} spans, stock events {traced_stock_events:?}, {:?} from the request",
        spans.len(),
        started.elapsed()
    );
    shutdown.cancel();
}

fn is_confirm_request(span: &ReceivedSpan, order_id: &str) -> bool {
    span.name == "request"
        && span
            .attributes
            .get("path")
            .is_some_and(|path| *path == format!("/api/orders/{order_id}/confirm"))
}

fn is_reservation(span: &ReceivedSpan) -> bool {
    span.name == "inbox.apply"
        && span.attributes.get("consumer").map(String::as_str) == Some(INVENTORY_CONSUMER)
}
