//! `spawn_app()`: the real orders service against a real nats-server and a fresh PostgreSQL
//! database, served on a free port; and the small helpers the integration tests share.

use std::time::Duration;

use orderflow_auth::{AuthSettings, dev};
use orderflow_orders::domain::{CustomerId, Money, ProductId, Quantity, Sku};
use orderflow_orders::service::{Actor, LineRequest};
use orderflow_orders::store::{self, CatalogEntry};
use orderflow_orders::{Config, OrdersApp};
use orderflow_outbox::{StreamSettings, ensure_streams};
use orderflow_test_support::TestDatabase;
pub use orderflow_test_support::service::Options;
use reqwest::StatusCode;
use serde_json::{Value, json};
use time::OffsetDateTime;
use uuid::Uuid;

orderflow_test_support::test_app!(TestApp, OrdersApp, |db, nats_url| async move {
    let app = OrdersApp::connect(config(db, nats_url)).await.unwrap();
    ensure_streams(&app.jetstream(), &StreamSettings::default())
        .await
        .unwrap();
    app
});

/// Config for a test: dev HS256 settings, the given database and NATS.
pub fn config(db: &TestDatabase, nats_url: &str) -> Config {
    Config {
        listen: "127.0.0.1:0".parse().unwrap(),
        database_url: db.url.clone().into(),
        db_max_connections: 20,
        common: orderflow_service::Settings {
            streams: StreamSettings {
                duplicate_window: Duration::from_secs(120),
                ..StreamSettings::default()
            },
            ..orderflow_service::Settings::local(
                nats_url.to_owned(),
                AuthSettings::hs256(dev::ISSUER, dev::AUDIENCE, dev::SECRET),
            )
        },
    }
}

/// Everything running, KB-001 in the catalog at `price_minor` cents, and a customer Alice.
pub async fn spawn_app_selling_kb(price_minor: i64) -> (TestApp, User) {
    let stack = spawn_app().await;
    stack.seed_product("KB-001", price_minor).await;
    (stack, customer("Alice"))
}

/// [`spawn_app_selling_kb`] at 49.99, and a draft order of Alice's for `quantity` of it (JSON).
pub async fn spawn_app_with_draft(quantity: i64) -> (TestApp, User, Value) {
    let (stack, alice) = spawn_app_selling_kb(4_999).await;
    let order = stack.create_order(&alice.token, "KB-001", quantity).await;
    (stack, alice, order)
}

/// The API path of the order whose JSON is `order`.
pub fn order_path(order: &Value) -> String {
    format!("/api/orders/{}", order["id"].as_str().unwrap())
}

impl TestApp {
    /// Puts a product into the local catalog directly (the consumer path has its own test).
    pub async fn seed_product(&self, sku: &str, price_minor: i64) -> ProductId {
        let id = ProductId(Uuid::now_v7());
        let entry = CatalogEntry {
            product_id: id,
            sku: Sku::parse(sku).unwrap(),
            name: format!("Product {sku}"),
            unit_price: Money(price_minor),
            currency: "USD".to_owned(),
        };
        let mut conn = self.app.pool.acquire().await.unwrap();
        store::apply_product_upserted(&mut conn, &entry, 1, OffsetDateTime::now_utc())
            .await
            .unwrap();
        id
    }

    /// Seeds product KB-001 and returns an admin actor named `name` with a one-line order
    /// request for it, for tests that drive the `OrderService` directly.
    pub async fn seed_admin_order(&self, name: &str) -> (Actor, [LineRequest; 1]) {
        self.seed_product("KB-001", 100).await;
        let actor = Actor {
            customer_id: CustomerId(Uuid::new_v4()),
            name: name.into(),
            is_admin: true,
        };
        let line = [LineRequest {
            sku: Sku::parse("KB-001").unwrap(),
            quantity: Quantity::new(1).unwrap(),
        }];
        (actor, line)
    }

    /// How many events wait in the outbox.
    pub async fn outbox_pending(&self) -> i64 {
        orderflow_outbox::pending_count(&self.pool).await.unwrap()
    }

    /// Waits until the relay has published (and deleted) every outbox row: after that it
    /// publishes nothing more until the next write.
    pub async fn outbox_drained(&self) {
        orderflow_test_support::service::outbox_drained(&self.pool).await;
    }

    /// Creates an order of `quantity` x `sku` and returns its JSON.
    pub async fn create_order(&self, token: &str, sku: &str, quantity: i64) -> Value {
        let response = self
            .post(
                token,
                "/api/orders",
                json!({ "lines": [{ "sku": sku, "quantity": quantity }] }),
            )
            .await;
        assert_eq!(response.status(), StatusCode::CREATED);
        response.json().await.unwrap()
    }
}

/// A user with a token for the dev settings.
pub type User = dev::DevUser;

pub fn customer(name: &str) -> User {
    User::customer(name)
}

pub fn admin() -> User {
    User::admin()
}

pub use orderflow_test_support::jetstream::{Stored, read_stream, wait_for_stream};
