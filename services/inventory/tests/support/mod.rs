//! Starts the real inventory service (and, for end-to-end tests, the real orders service)
//! against a real nats-server and fresh PostgreSQL databases, plus the helpers the integration
//! tests share.

#![allow(dead_code)] // each test binary uses a different subset

use std::future::Future;
use std::time::Duration;

use async_nats::jetstream;
use orderflow_auth::{AuthSettings, dev};
use orderflow_events::{AnyEvent, decode_by_schema, headers};
use orderflow_inventory::{Config, InventoryApp};
use orderflow_outbox::{StreamSettings, ensure_streams};
use orderflow_test_support::proxy::TcpProxy;
use orderflow_test_support::{NatsServer, TestDatabase, fresh_database};
use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

/// Stream settings for tests: a short duplicate window keeps nats-server light.
pub fn streams() -> StreamSettings {
    StreamSettings {
        duplicate_window: Duration::from_secs(120),
        ..StreamSettings::default()
    }
}

/// Inventory config for a test: dev HS256 settings, the given database and NATS.
pub fn config(db: &TestDatabase, nats_url: &str) -> Config {
    Config {
        listen: "127.0.0.1:0".parse().unwrap(),
        database_url: db.url.clone().into(),
        db_max_connections: 10,
        consumer_workers: 4,
        common: orderflow_service::Settings {
            streams: streams(),
            ..orderflow_service::Settings::local(
                nats_url.to_owned(),
                AuthSettings::hs256(dev::ISSUER, dev::AUDIENCE, dev::SECRET),
            )
        },
    }
}

/// Serves `router` on a free port until `shutdown`; returns the base URL.
pub async fn serve(router: axum::Router, shutdown: &CancellationToken) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let stop = shutdown.clone();
    tokio::spawn(async move {
        axum::serve(listener, router)
            .with_graceful_shutdown(async move { stop.cancelled().await })
            .await
            .unwrap();
    });
    base
}

/// A running inventory service and its infrastructure.
pub struct Stack {
    pub nats: NatsServer,
    pub db: TestDatabase,
    pub app: InventoryApp,
    pub base: String,
    pub http: reqwest::Client,
    pub shutdown: CancellationToken,
}

impl Drop for Stack {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

impl Stack {
    /// Everything running: HTTP server, relay and consumer.
    pub async fn start() -> Self {
        Self::start_with(true).await
    }

    /// With `background = false` no relay or consumer runs; tests drive them by hand.
    pub async fn start_with(background: bool) -> Self {
        let nats = NatsServer::start().await;
        let db = fresh_database().await;
        Self::start_on(nats, db, background).await
    }

    /// Everything running, with the service reaching PostgreSQL through a [`TcpProxy`], so a
    /// test can take the database away (`cut`) while the service runs.
    pub async fn start_behind_proxy() -> (Self, TcpProxy) {
        let nats = NatsServer::start().await;
        let (proxied, proxy) = fresh_database().await.behind_proxy().await;
        (Self::start_on(nats, proxied, true).await, proxy)
    }

    async fn start_on(nats: NatsServer, db: TestDatabase, background: bool) -> Self {
        let app = InventoryApp::connect(config(&db, &nats.url()))
            .await
            .unwrap();
        ensure_streams(&app.jetstream(), &streams()).await.unwrap();
        let shutdown = CancellationToken::new();
        if background {
            app.spawn_background(&shutdown);
        }
        let base = serve(app.router(), &shutdown).await;
        Self {
            nats,
            db,
            app,
            base,
            http: reqwest::Client::new(),
            shutdown,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub async fn send(
        &self,
        method: reqwest::Method,
        token: &str,
        path: &str,
        body: Option<Value>,
    ) -> reqwest::Response {
        let mut request = self.http.request(method, self.url(path)).bearer_auth(token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        request.send().await.unwrap()
    }

    pub async fn get(&self, token: &str, path: &str) -> reqwest::Response {
        self.send(reqwest::Method::GET, token, path, None).await
    }

    pub async fn post(&self, token: &str, path: &str, body: Value) -> reqwest::Response {
        self.send(reqwest::Method::POST, token, path, Some(body))
            .await
    }

    pub async fn patch(&self, token: &str, path: &str, body: Value) -> reqwest::Response {
        self.send(reqwest::Method::PATCH, token, path, Some(body))
            .await
    }

    /// Creates a product as an admin and returns its JSON.
    pub async fn create_product(&self, sku: &str, price: &str, stock: i64) -> Value {
        let response = self
            .post(
                &admin().token,
                "/api/products",
                json!({ "sku": sku, "name": format!("Product {sku}"), "unitPrice": price,
                        "initialStock": stock, "lowStockThreshold": 2 }),
            )
            .await;
        assert_eq!(response.status(), StatusCode::CREATED);
        response.json().await.unwrap()
    }

    /// The stock level of `sku` as the API reports it.
    pub async fn level(&self, sku: &str) -> i64 {
        let product: Value = self
            .get(&admin().token, &format!("/api/products/{sku}"))
            .await
            .json()
            .await
            .unwrap();
        product["stockLevel"].as_i64().unwrap()
    }
}

/// Asserts `response` is a problem document with this status and code; returns its body.
pub async fn problem(response: reqwest::Response, status: StatusCode, code: &str) -> Value {
    assert_eq!(response.status(), status);
    assert_eq!(
        response.headers()["content-type"].to_str().unwrap(),
        "application/problem+json"
    );
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["code"], code, "{body}");
    assert_eq!(body["status"], status.as_u16());
    body
}

/// A user with a token for the dev settings.
pub type User = dev::DevUser;

pub fn customer(name: &str) -> User {
    User::customer(name)
}

pub fn admin() -> User {
    User::admin()
}

/// A message stored in a stream, decoded.
#[derive(Debug)]
pub struct Stored {
    pub sequence: u64,
    pub subject: String,
    pub event: AnyEvent,
}

/// Every decodable message currently in `stream`, in stream order.
pub async fn read_stream(js: &jetstream::Context, stream: &str) -> Vec<Stored> {
    let mut stream = js.get_stream(stream).await.unwrap();
    let last = stream.info().await.unwrap().state.last_sequence;
    let mut out = Vec::new();
    for sequence in 1..=last {
        let Ok(raw) = stream.get_raw_message(sequence).await else {
            continue;
        };
        let schema = raw
            .headers
            .get(headers::SCHEMA)
            .map(|v| v.as_str().to_owned())
            .unwrap_or_default();
        if let Ok(event) = decode_by_schema(&schema, &raw.payload) {
            out.push(Stored {
                sequence,
                subject: raw.subject.to_string(),
                event,
            });
        }
    }
    out
}

/// Polls `check` until it returns `Some`, or panics after 20 s naming `what`.
pub async fn eventually<T, F, Fut>(what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// An `OrderConfirmed` as the orders service would write it (version 3: created, confirmed,
/// status changed).
pub fn confirmed(
    customer_id: Uuid,
    order_id: Uuid,
    lines: &[(&str, u32)],
) -> orderflow_events::orders::v1::OrderConfirmed {
    use orderflow_events::orders::v1::{OrderConfirmed, OrderLine};
    OrderConfirmed {
        metadata: Some(orderflow_events::common::v1::EventMetadata::new(
            order_id,
            3,
            time::OffsetDateTime::now_utc(),
        )),
        order_id: order_id.to_string(),
        order_number: "ORD-2026-000001".to_owned(),
        customer_id: customer_id.to_string(),
        customer_name: "Test Customer".to_owned(),
        lines: lines
            .iter()
            .map(|(sku, quantity)| OrderLine {
                sku: (*sku).to_owned(),
                product_name: format!("Product {sku}"),
                quantity: *quantity,
                unit_price_minor: 100,
                line_total_minor: 100 * i64::from(*quantity),
            })
            .collect(),
        currency: "USD".to_owned(),
        ..Default::default()
    }
}

/// An `OrderCancelled` for an order with these lines.
pub fn cancelled(
    customer_id: Uuid,
    order_id: Uuid,
    lines: &[(&str, u32)],
) -> orderflow_events::orders::v1::OrderCancelled {
    let c = confirmed(customer_id, order_id, lines);
    orderflow_events::orders::v1::OrderCancelled {
        metadata: Some(orderflow_events::common::v1::EventMetadata::new(
            order_id,
            4,
            time::OffsetDateTime::now_utc(),
        )),
        order_id: c.order_id,
        order_number: c.order_number,
        customer_id: c.customer_id,
        lines: c.lines,
        reason: "Cancelled by the customer".to_owned(),
        ..Default::default()
    }
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

/// Publishes a contract event; `msg_id` is normally the event id (a different one makes
/// JetStream store a duplicate delivery of the same event).
pub async fn publish<E: orderflow_events::Event>(js: &jetstream::Context, event: &E, msg_id: &str) {
    publish_raw(
        js,
        event.subject().unwrap(),
        E::SCHEMA_NAME,
        event.encode_to_vec(),
        msg_id,
    )
    .await;
}

/// The event id of a contract event.
pub fn event_id<E: orderflow_events::Event>(event: &E) -> String {
    event.metadata().unwrap().event_id.clone()
}

/// A second handle on the inventory's durable consumer, to fetch messages without acking
/// them (the way a crash between commit and ack leaves them).
pub async fn raw_consumer(
    js: &jetstream::Context,
) -> jetstream::consumer::Consumer<jetstream::consumer::pull::Config> {
    js.get_stream(orderflow_events::streams::ORDERS)
        .await
        .unwrap()
        .get_consumer(orderflow_inventory::reservations::CONSUMER)
        .await
        .unwrap()
}

/// Fetches one message from `consumer`, waiting at most `wait`.
pub async fn fetch_one(
    consumer: &jetstream::consumer::Consumer<jetstream::consumer::pull::Config>,
    wait: Duration,
) -> Option<jetstream::Message> {
    use futures::StreamExt as _;
    let mut batch = consumer
        .fetch()
        .max_messages(1)
        .expires(wait)
        .messages()
        .await
        .unwrap();
    batch.next().await.map(Result::unwrap)
}
