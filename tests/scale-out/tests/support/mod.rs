//! The system under test for the scale-out test: a 3-node JetStream cluster with the streams at
//! 3 replicas, two orders replicas on one database, one inventory, two killable gateways, and a
//! driver that keeps changing orders over HTTP while counting failed requests.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use async_nats::jetstream;
use orderflow_auth::{AuthSettings, dev};
use orderflow_gateway::GatewaySettings;
use orderflow_inventory::InventoryApp;
use orderflow_orders::OrdersApp;
use orderflow_outbox::{StreamSettings, ensure_streams};
use orderflow_scale_out::gateway::KillableGateway;
use orderflow_test_support::service::serve;
use orderflow_test_support::{NatsCluster, TestDatabase, fresh_database};
use serde_json::{Value, json};
use tokio::sync::Mutex;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

/// The product every order buys; stock is far beyond what the run can use.
pub const SKU: &str = "SCALE-1";

pub fn streams() -> StreamSettings {
    StreamSettings {
        replicas: 3,
        duplicate_window: Duration::from_secs(120),
        ..StreamSettings::default()
    }
}

fn auth() -> AuthSettings {
    AuthSettings::hs256(dev::ISSUER, dev::AUDIENCE, dev::SECRET)
}

pub fn token(user: Uuid, admin: bool) -> String {
    let mut claims = dev::DevClaims::new(user).name("Scale Tester");
    if admin {
        claims = claims.role("Admin");
    }
    dev::issue_hs256(dev::SECRET, claims)
}

/// The config of an orders or inventory instance (their shared fields have the same names) on
/// `database` and the cluster at `nats_url`, followed by the type's own `field: value`s.
macro_rules! service_config {
    ($($config:ident)::+, $database:expr, $nats_url:expr $(, $field:ident: $value:expr)*) => {
        $($config)::+ {
            listen: "127.0.0.1:0".parse().unwrap(),
            database_url: $database.url.clone().into(),
            db_max_connections: 10,
            common: orderflow_service::Settings {
                streams: streams(),
                ..orderflow_service::Settings::local($nats_url.clone(), auth())
            },
            $($field: $value,)*
        }
    };
}

/// Everything running.
pub struct System {
    pub cluster: NatsCluster,
    pub js: jetstream::Context,
    pub orders: Vec<(OrdersApp, String)>,
    pub inventory: String,
    pub gateways: Vec<KillableGateway>,
    pub shutdown: CancellationToken,
    _dbs: Vec<TestDatabase>,
}

impl System {
    pub async fn start() -> System {
        let cluster = NatsCluster::start(3).await;
        // The services get the comma-separated list, as ORDERFLOW_NATS_URL would carry it.
        let url = cluster.url();
        let js = jetstream::new(async_nats::connect(cluster.urls()).await.unwrap());
        // A fresh cluster can have a meta leader before every peer is registered for placement
        // ("no suitable peers"); give it a moment as a deployment's restarts would.
        let deadline = Instant::now() + Duration::from_secs(20);
        while let Err(e) = ensure_streams(&js, &streams()).await {
            assert!(Instant::now() < deadline, "streams at 3 replicas: {e}");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        let shutdown = CancellationToken::new();

        let orders_db = fresh_database().await;
        let mut orders = Vec::new();
        for _ in 0..2 {
            let config = service_config!(orderflow_orders::Config, orders_db, url);
            let app = OrdersApp::connect(config).await.unwrap();
            app.spawn_background(&shutdown);
            let base = serve(app.router(), &shutdown).await;
            orders.push((app, base));
        }

        let inventory_db = fresh_database().await;
        let config =
            service_config!(orderflow_inventory::Config, inventory_db, url, consumer_workers: 2);
        let inventory = InventoryApp::connect(config).await.unwrap();
        inventory.spawn_background(&shutdown);
        let inventory = serve(inventory.router(), &shutdown).await;

        let gateways = (0..2)
            .map(|_| {
                KillableGateway::start(GatewaySettings::for_tests(
                    url.clone(),
                    AuthSettings::dev(),
                    vec![],
                ))
                .unwrap()
            })
            .collect();
        System {
            cluster,
            js,
            orders,
            inventory,
            gateways,
            shutdown,
            _dbs: vec![orders_db, inventory_db],
        }
    }

    /// Creates the product in inventory and waits until the orders replicas know it (through
    /// the product events), by placing a first order; returns that order's id.
    pub async fn seed(&self, http: &reqwest::Client) -> Uuid {
        let admin = token(Uuid::new_v4(), true);
        let response = http
            .post(format!("{}/api/products", self.inventory))
            .bearer_auth(&admin)
            .json(
                &json!({ "sku": SKU, "name": "Scale test product", "unitPrice": "1.00",
                           "initialStock": 10_000_000, "lowStockThreshold": 1 }),
            )
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 201, "{:?}", response.text().await);
        let customer = token(Uuid::new_v4(), false);
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let response = http
                .post(format!("{}/api/orders", self.orders[0].1))
                .bearer_auth(&customer)
                .json(&json!({ "lines": [{ "sku": SKU, "quantity": 1 }] }))
                .send()
                .await
                .unwrap();
            if response.status() == 201 {
                let body: Value = response.json().await.unwrap();
                return body["id"].as_str().unwrap().parse().unwrap();
            }
            assert!(
                Instant::now() < deadline,
                "orders never learned the product"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Waits until no outbox row is left, i.e. every committed event is in the stream.
    pub async fn drain_outbox(&self) {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let left: i64 = sqlx::query_scalar("SELECT count(*) FROM outbox")
                .fetch_one(&self.orders[0].0.pool)
                .await
                .unwrap();
            if left == 0 {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "{left} outbox rows never published"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Index of the node leading the `ORDERS` stream (`n2` → 1), waiting out an election.
    pub async fn orders_leader(&self) -> usize {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Ok(mut stream) = self.js.get_stream("ORDERS").await
                && let Ok(info) = stream.info().await
            {
                assert_eq!(info.config.num_replicas, 3, "ORDERS runs at 3 replicas");
                if let Some(leader) = info.cluster.as_ref().and_then(|c| c.leader.clone()) {
                    return leader.trim_start_matches('n').parse::<usize>().unwrap() - 1;
                }
            }
            assert!(Instant::now() < deadline, "ORDERS has no leader");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

/// One failed request of the driver.
#[derive(Debug, Clone)]
pub struct Failure {
    pub at: Instant,
    pub what: String,
}

/// What the driver did.
#[derive(Debug, Default)]
pub struct DriverLog {
    pub requests: usize,
    pub failures: Vec<Failure>,
    pub orders: Vec<Uuid>,
}

const LIFECYCLE: [&str; 4] = ["confirm", "process", "ship", "deliver"];

/// Cycles orders of `customers` through their life (create, confirm, process, ship, deliver)
/// over both orders replicas until `stop`, one request every `pace`.
pub async fn drive(
    bases: Vec<String>,
    customers: Vec<Uuid>,
    pace: Duration,
    stop: Arc<AtomicBool>,
    log: Arc<Mutex<DriverLog>>,
) {
    let http = orderflow_runtime::http::client_builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    let admin = token(Uuid::new_v4(), true);
    // Per customer: the current order and the next lifecycle step.
    let mut state: Vec<Option<(Uuid, usize)>> = vec![None; customers.len()];
    let mut n = 0usize;
    while !stop.load(Ordering::Relaxed) {
        let i = n % customers.len();
        let base = &bases[n % bases.len()];
        n += 1;
        let result = match state[i] {
            None => {
                http.post(format!("{base}/api/orders"))
                    .bearer_auth(token(customers[i], false))
                    .header("Idempotency-Key", Uuid::new_v4().to_string())
                    .json(&json!({ "lines": [{ "sku": SKU, "quantity": 1 }] }))
                    .send()
                    .await
            }
            Some((order, step)) => {
                let who = if step == 0 {
                    token(customers[i], false)
                } else {
                    admin.clone()
                };
                http.post(format!("{base}/api/orders/{order}/{}", LIFECYCLE[step]))
                    .bearer_auth(who)
                    .send()
                    .await
            }
        };
        let mut log = log.lock().await;
        log.requests += 1;
        match result {
            Ok(r) if r.status().is_success() => {
                let body: Value = r.json().await.unwrap_or_default();
                state[i] = match state[i] {
                    None => {
                        let id: Uuid = body["id"].as_str().unwrap().parse().unwrap();
                        log.orders.push(id);
                        Some((id, 0))
                    }
                    Some((_, step)) if step + 1 == LIFECYCLE.len() => None,
                    Some((id, step)) => Some((id, step + 1)),
                };
            }
            Ok(r) => {
                let status = r.status();
                let what = format!("{status}: {}", r.text().await.unwrap_or_default());
                log.failures.push(Failure {
                    at: Instant::now(),
                    what,
                });
                // Whatever happened, start a fresh order rather than guess the old one's state.
                state[i] = None;
            }
            Err(e) => {
                log.failures.push(Failure {
                    at: Instant::now(),
                    what: e.to_string(),
                });
                state[i] = None;
            }
        }
        drop(log);
        tokio::time::sleep(pace).await;
    }
}
