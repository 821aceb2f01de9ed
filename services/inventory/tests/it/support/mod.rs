//! Starts the real inventory service (and, for end-to-end tests, the real orders service)
//! against a real nats-server and fresh PostgreSQL databases, plus the helpers the integration
//! tests share.

use std::time::Duration;

use async_nats::jetstream;
use orderflow_auth::{AuthSettings, dev};
use orderflow_events::AnyEvent;
use orderflow_events::inventory::v1::StockLevelChanged;
use orderflow_events::orders::v1::OrderConfirmed;
use orderflow_inbox::{Consumer, Outcome};
use orderflow_inventory::reservations::StockReservations;
use orderflow_inventory::{Config, InventoryApp};
use orderflow_outbox::{StreamSettings, ensure_streams};
use orderflow_test_support::TestDatabase;
pub use orderflow_test_support::service::Options;
use reqwest::StatusCode;
use serde_json::{Value, json};
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

orderflow_test_support::test_app!(TestApp, InventoryApp, |db, nats_url| async move {
    let app = InventoryApp::connect(config(db, nats_url)).await.unwrap();
    ensure_streams(&app.jetstream(), &streams()).await.unwrap();
    app
});

impl TestApp {
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
        let product = self
            .get_json(&admin().token, &format!("/api/products/{sku}"))
            .await;
        product["stockLevel"].as_i64().unwrap()
    }

    /// The status of `order`'s reservation, if the consumer has seen the order.
    pub async fn reservation_status(&self, order: Uuid) -> Option<String> {
        sqlx::query_scalar("SELECT status FROM order_reservations WHERE order_id = $1")
            .bind(order)
            .fetch_optional(&self.pool)
            .await
            .unwrap()
    }

    /// Products (sku, stock) created over the API, and the consumer bound for driving by hand.
    pub async fn with_consumer(&self, products: &[(&str, i64)]) -> Reservations {
        for (sku, stock) in products {
            self.create_product(sku, "10.00", *stock).await;
        }
        self.app.bind_consumer().await.unwrap()
    }
}

/// The service without its background tasks, these products (sku, stock), the consumer bound
/// for driving by hand, and JetStream.
pub async fn spawn_with_consumer(
    products: &[(&str, i64)],
) -> (TestApp, Reservations, jetstream::Context) {
    let stack = spawn_app_with(Options::idle()).await;
    let consumer = stack.with_consumer(products).await;
    let js = stack.app.jetstream();
    (stack, consumer, js)
}

/// The inventory's order-event consumer, driven step by step.
pub type Reservations = Consumer<StockReservations>;

/// How long a step waits for messages that should be there.
pub const WAIT: Duration = Duration::from_secs(2);

/// Steps `consumer` until it has handled `n` messages; their outcomes.
pub async fn step_until(consumer: &Reservations, n: usize) -> Vec<Outcome> {
    let mut outcomes = Vec::new();
    while outcomes.len() < n {
        outcomes.extend(consumer.step(10, WAIT).await.unwrap());
    }
    outcomes
}

/// Asserts `consumer` gets nothing for 1.5 s: `why` nothing is redelivered.
pub async fn assert_nothing_redelivered(consumer: &Reservations, why: &str) {
    let outcomes = consumer
        .step(10, Duration::from_millis(1500))
        .await
        .unwrap();
    assert!(outcomes.is_empty(), "{why}");
}

/// Publishes `event` with its order id replaced by one that is no UUID: it decodes, but the
/// handler refuses it permanently. On the subject of its real order, under `msg_id`.
pub async fn publish_invalid_order_id(
    js: &jetstream::Context,
    event: &OrderConfirmed,
    msg_id: &str,
) {
    let subject = orderflow_events::subjects::order_event(
        Uuid::parse_str(&event.customer_id).unwrap(),
        Uuid::parse_str(&event.order_id).unwrap(),
        orderflow_events::subjects::OrderEventKind::Confirmed,
    );
    let bad = OrderConfirmed {
        order_id: "not-a-uuid".to_owned(),
        ..event.clone()
    };
    let schema = <OrderConfirmed as orderflow_events::Event>::SCHEMA_NAME;
    publish_raw(
        js,
        subject,
        schema,
        prost::Message::encode_to_vec(&bad),
        msg_id,
    )
    .await;
}

/// A user with a token for the dev settings.
pub type User = dev::DevUser;

pub fn customer(name: &str) -> User {
    User::customer(name)
}

pub fn admin() -> User {
    User::admin()
}

pub use orderflow_test_support::eventually;
pub use orderflow_test_support::jetstream::{
    event_id, fetch_exactly, fetch_one, publish, publish_as, publish_raw,
    read_decodable as read_stream,
};
pub use orderflow_test_support::service::problem;

/// The INVENTORY stream's `StockLevelChanged` events that `keep` maps to something.
pub async fn stock_events<T>(
    js: &jetstream::Context,
    keep: impl Fn(StockLevelChanged) -> Option<T>,
) -> Vec<T> {
    read_stream(js, orderflow_events::streams::INVENTORY)
        .await
        .into_iter()
        .filter_map(|s| match s.event {
            AnyEvent::StockLevelChanged(e) => keep(e),
            _ => None,
        })
        .collect()
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
