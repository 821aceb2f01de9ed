//! Starts the real orders service against a real nats-server and a fresh PostgreSQL database,
//! and offers the small helpers the integration tests share.

#![allow(dead_code)] // each test binary uses a different subset

use std::time::Duration;

use async_nats::jetstream;
use orderflow_auth::{AuthSettings, dev};
use orderflow_events::{AnyEvent, decode_by_schema, headers};
use orderflow_orders::domain::{Money, ProductId, Sku};
use orderflow_orders::store::{self, CatalogEntry};
use orderflow_orders::{Config, OrdersApp};
use orderflow_outbox::{StreamSettings, ensure_streams};
use orderflow_test_support::proxy::TcpProxy;
use orderflow_test_support::{NatsServer, TestDatabase, fresh_database};
use reqwest::StatusCode;
use serde_json::{Value, json};
use time::OffsetDateTime;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

/// A running orders service and its infrastructure.
pub struct Stack {
    pub nats: NatsServer,
    pub db: TestDatabase,
    pub app: OrdersApp,
    pub base: String,
    pub http: reqwest::Client,
    pub shutdown: CancellationToken,
}

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

    /// Everything running, on the database `db` (e.g. on a server the test stops).
    pub async fn start_on_database(db: TestDatabase) -> Self {
        Self::start_on(NatsServer::start().await, db, true).await
    }

    async fn start_on(nats: NatsServer, db: TestDatabase, background: bool) -> Self {
        let app = OrdersApp::connect(config(&db, &nats.url())).await.unwrap();
        ensure_streams(&app.jetstream(), &StreamSettings::default())
            .await
            .unwrap();
        let shutdown = CancellationToken::new();
        if background {
            app.spawn_background(&shutdown);
        }
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let router = app.router();
        let stop = shutdown.clone();
        tokio::spawn(async move {
            axum::serve(listener, router)
                .with_graceful_shutdown(async move { stop.cancelled().await })
                .await
                .unwrap();
        });
        Self {
            nats,
            db,
            app,
            base,
            http: reqwest::Client::new(),
            shutdown,
        }
    }

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

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// POST with a bearer token and an optional JSON body.
    pub async fn post(&self, token: &str, path: &str, body: Option<Value>) -> reqwest::Response {
        let mut request = self.http.post(self.url(path)).bearer_auth(token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        request.send().await.unwrap()
    }

    pub async fn get(&self, token: &str, path: &str) -> reqwest::Response {
        self.http
            .get(self.url(path))
            .bearer_auth(token)
            .send()
            .await
            .unwrap()
    }

    /// Creates an order of `quantity` x `sku` and returns its JSON.
    pub async fn create_order(&self, token: &str, sku: &str, quantity: i64) -> Value {
        let response = self
            .post(
                token,
                "/api/orders",
                Some(json!({ "lines": [{ "sku": sku, "quantity": quantity }] })),
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

/// A message stored in a stream, decoded.
#[derive(Debug)]
pub struct Stored {
    pub sequence: u64,
    pub subject: String,
    pub msg_id: String,
    pub schema: String,
    pub event: AnyEvent,
}

/// Every message currently in `stream`, in stream order.
pub async fn read_stream(js: &jetstream::Context, stream: &str) -> Vec<Stored> {
    let mut stream = js.get_stream(stream).await.unwrap();
    let last = stream.info().await.unwrap().state.last_sequence;
    let mut out = Vec::new();
    for sequence in 1..=last {
        let Ok(raw) = stream.get_raw_message(sequence).await else {
            continue;
        };
        let header = |name: &str| {
            raw.headers
                .get(name)
                .map(|v| v.as_str().to_owned())
                .unwrap_or_default()
        };
        let schema = header(headers::SCHEMA);
        out.push(Stored {
            sequence,
            subject: raw.subject.to_string(),
            msg_id: header(headers::MSG_ID),
            event: decode_by_schema(&schema, &raw.payload).unwrap(),
            schema,
        });
    }
    out
}

/// Waits until `stream` holds at least `count` messages, then returns them all.
pub async fn wait_for_stream(js: &jetstream::Context, stream: &str, count: usize) -> Vec<Stored> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let mut s = js.get_stream(stream).await.unwrap();
        let n = s.info().await.unwrap().state.messages as usize;
        if n >= count || tokio::time::Instant::now() > deadline {
            return read_stream(js, stream).await;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}
