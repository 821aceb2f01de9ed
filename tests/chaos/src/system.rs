//! The system under test, all real processes on loopback: nats-server (JetStream, file store),
//! PostgreSQL (one database for orders, one for inventory; on a server of the round's own when
//! the scenario stops it), and the `orders`, `inventory` and
//! two `gateway` binaries. Gateway A reaches NATS through a [`TcpProxy`] so its link can be
//! partitioned; gateway B connects directly. Both gateways share one
//! `GATEWAY_CONNECTION_TOKEN_SECRET`, so a negotiate answered by one and a WebSocket opened on
//! the other belong together (no sticky sessions).

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use async_nats::jetstream;
use orderflow_auth::dev;
use orderflow_test_support::proxy::TcpProxy;
use orderflow_test_support::{NatsServer, PgCluster, SUPERUSER, free_port, fresh_database};
use serde_json::{Value, json};
use sqlx::PgPool;
use sqlx::postgres::PgPoolOptions;
use uuid::Uuid;

use crate::binaries::Binaries;
use crate::process::Service;

/// The product every order buys.
pub const SKU: &str = "CHAOS-1";
/// Its initial stock, far beyond what a round can use (so no reservation is ever rejected).
pub const INITIAL_STOCK: i64 = 100_000_000;

/// A development token for `user` (role `Admin` when `admin`).
pub fn token(user: Uuid, admin: bool) -> String {
    let mut claims = dev::DevClaims::new(user).name("Chaos Tester");
    if admin {
        claims = claims.role("Admin");
    }
    dev::issue_hs256(dev::SECRET, claims)
}

/// Everything running for one round.
pub struct System {
    /// The only NATS server; killed and restarted (same ports, same store) by `nats-restart`.
    pub nats: NatsServer,
    /// Gateway A's link to NATS.
    pub link_a: TcpProxy,
    /// The suite's own JetStream client (reads the `ORDERS` stream for the verdict).
    pub js: jetstream::Context,
    /// The orders service.
    pub orders: Service,
    /// The inventory service (consumes order events, as in production).
    pub inventory: Service,
    /// Gateway A (through `link_a`).
    pub gateway_a: Service,
    /// Gateway B (direct).
    pub gateway_b: Service,
    /// The round's own PostgreSQL server, when the scenario stops it (`pg-restart`); otherwise
    /// the databases live on the shared test server.
    pub postgres: Option<PgCluster>,
    /// The orders database (for the verdict).
    pub orders_pool: PgPool,
    /// The inventory database (for the verdict).
    pub inventory_pool: PgPool,
    http: reqwest::Client,
}

fn shared_env(nats_url: &str) -> Vec<(String, String)> {
    [
        ("ORDERFLOW_NATS_URL", nats_url),
        ("ORDERFLOW_JWT_ISSUER", dev::ISSUER),
        ("ORDERFLOW_JWT_AUDIENCE", dev::AUDIENCE),
        ("ORDERFLOW_JWT_HS256_SECRET", dev::SECRET),
        ("ORDERFLOW_LOG_FORMAT", "text"),
        // Every client of the suite comes from 127.0.0.1 and reconnects all at once after a
        // fault: the per-address limits meant for hostile clients would refuse them. The
        // hostile-client test sets them back (`Tuning`).
        ("ORDERFLOW_MAX_UNAUTHENTICATED_PER_SOURCE", "1000000"),
        ("GATEWAY_NEGOTIATE_RATE_PER_SOURCE", "1000000"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect()
}

fn with(mut env: Vec<(String, String)>, more: &[(&str, String)]) -> Vec<(String, String)> {
    env.extend(more.iter().map(|(k, v)| ((*k).to_owned(), v.clone())));
    env
}

/// How the services are started besides their usual settings (the hostile-client test
/// starts them with a low descriptor limit and short deadlines).
#[derive(Clone, Debug, Default)]
pub struct Tuning {
    /// `RLIMIT_NOFILE` of every service process.
    pub nofile: Option<u64>,
    /// More environment for every service.
    pub env: Vec<(String, String)>,
}

impl System {
    /// Starts everything and waits until every service is ready; logs go to `logs`. With
    /// `own_postgres`, the databases live on a PostgreSQL server of this round's own, which the
    /// scenario may stop.
    pub async fn start(bins: &Binaries, logs: &Path, own_postgres: bool) -> anyhow::Result<System> {
        Self::start_tuned(bins, logs, own_postgres, &Tuning::default()).await
    }

    /// [`System::start`] with `tuning` applied to every service.
    pub async fn start_tuned(
        bins: &Binaries,
        logs: &Path,
        own_postgres: bool,
        tuning: &Tuning,
    ) -> anyhow::Result<System> {
        let start = |name: &'static str, program: &Path, port: u16, env: Vec<(String, String)>| {
            let mut env = env;
            env.extend(tuning.env.iter().cloned());
            let program = program.to_path_buf();
            async move { Service::start_limited(name, &program, port, env, logs, tuning.nofile).await }
        };
        let nats = NatsServer::start().await;
        let link_a = TcpProxy::start(([127, 0, 0, 1], nats.port()).into()).await?;
        let js = jetstream::new(async_nats::connect(nats.url()).await?);
        let (postgres, orders_db, inventory_db) = if own_postgres {
            let cluster = tokio::task::spawn_blocking(PgCluster::start_temporary).await??;
            let orders = create_database(&cluster, "orders").await?;
            let inventory = create_database(&cluster, "inventory").await?;
            (Some(cluster), orders, inventory)
        } else {
            (None, fresh_database().await.url, fresh_database().await.url)
        };
        let direct = shared_env(&nats.url());

        let port = free_port();
        let orders_env = with(
            direct.clone(),
            &[
                ("ORDERS_LISTEN", format!("127.0.0.1:{port}")),
                ("ORDERS_DATABASE_URL", orders_db.clone()),
                ("ORDERS_DB_MAX_CONNECTIONS", "10".into()),
            ],
        );
        // Orders first: it creates the ORDERS stream that the gateways read from.
        let orders = start("orders", &bins.orders, port, orders_env).await?;

        let port = free_port();
        let inventory_env = with(
            direct.clone(),
            &[
                ("INVENTORY_LISTEN", format!("127.0.0.1:{port}")),
                ("INVENTORY_DATABASE_URL", inventory_db.clone()),
                ("INVENTORY_DB_MAX_CONNECTIONS", "6".into()),
                ("INVENTORY_CONSUMER_WORKERS", "2".into()),
            ],
        );
        let inventory = start("inventory", &bins.inventory, port, inventory_env).await?;

        // One secret per run, shared by both gateways, as a deployment shares it.
        let secret = format!("{}{}", Uuid::new_v4().simple(), Uuid::new_v4().simple());
        let gateway = |nats_url: String| {
            let port = free_port();
            let env = with(
                shared_env(&nats_url),
                &[
                    ("GATEWAY_LISTEN", format!("127.0.0.1:{port}")),
                    ("GATEWAY_CONNECTION_TOKEN_SECRET", secret.clone()),
                ],
            );
            (port, env)
        };
        let (port_a, env_a) = gateway(link_a.nats_url());
        let gateway_a = start("gateway-a", &bins.gateway, port_a, env_a).await?;
        let (port_b, env_b) = gateway(nats.url());
        let gateway_b = start("gateway-b", &bins.gateway, port_b, env_b).await?;

        let pool = |url: String, what: &'static str| async move {
            PgPoolOptions::new()
                .max_connections(2)
                .connect(&url)
                .await
                .with_context(|| format!("connecting to the {what} database"))
        };
        let orders_pool = pool(orders_db, "orders").await?;
        let inventory_pool = pool(inventory_db, "inventory").await?;
        let http = orderflow_runtime::http::client_builder()
            .timeout(Duration::from_secs(10))
            .build()?;
        Ok(System {
            nats,
            link_a,
            js,
            orders,
            inventory,
            gateway_a,
            gateway_b,
            postgres,
            orders_pool,
            inventory_pool,
            http,
        })
    }

    /// Creates the product in inventory and waits until orders knows it (through the product
    /// events) by placing a first order (a draft, never confirmed); returns that order's id.
    pub async fn seed(&self) -> anyhow::Result<Uuid> {
        let response = self
            .http
            .post(format!("{}/api/products", self.inventory.url()))
            .bearer_auth(token(Uuid::new_v4(), true))
            .json(
                &json!({ "sku": SKU, "name": "Chaos product", "unitPrice": "1.00",
                           "initialStock": INITIAL_STOCK, "lowStockThreshold": 1 }),
            )
            .send()
            .await?;
        if response.status() != 201 {
            bail!("creating the product: {}", response.text().await?);
        }
        let customer = token(Uuid::new_v4(), false);
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let response = self
                .http
                .post(format!("{}/api/orders", self.orders.url()))
                .bearer_auth(&customer)
                .json(&json!({ "lines": [{ "sku": SKU, "quantity": 1 }] }))
                .send()
                .await?;
            if response.status() == 201 {
                let order: Value = response.json().await?;
                return order["id"]
                    .as_str()
                    .and_then(|id| id.parse().ok())
                    .context("the seed order has no id");
            }
            if Instant::now() > deadline {
                bail!(
                    "orders never learned the product: {}",
                    response.text().await?
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Waits until no outbox row is left, i.e. every committed order event is in the stream.
    pub async fn drain_outbox(&self, within: Duration) -> anyhow::Result<()> {
        let deadline = Instant::now() + within;
        loop {
            let left: Result<i64, _> = sqlx::query_scalar("SELECT count(*) FROM outbox")
                .fetch_one(&self.orders_pool)
                .await;
            match left {
                Ok(0) => return Ok(()),
                _ if Instant::now() > deadline => {
                    bail!("the orders outbox did not drain within {within:?}: {left:?}")
                }
                _ => tokio::time::sleep(Duration::from_millis(50)).await,
            }
        }
    }

    /// The last sequence of the `ORDERS` stream (waits out a reconnect after a NATS restart).
    pub async fn orders_last_sequence(&self) -> anyhow::Result<u64> {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let info =
                async { anyhow::Ok(self.js.get_stream("ORDERS").await?.get_info().await?) }.await;
            match info {
                Ok(info) => return Ok(info.state.last_sequence),
                Err(e) if Instant::now() > deadline => bail!("reading ORDERS info: {e}"),
                Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
            }
        }
    }

    /// Base URLs of gateway A and gateway B.
    pub fn gateway_urls(&self) -> [String; 2] {
        [self.gateway_a.url(), self.gateway_b.url()]
    }
}

/// Creates database `name` on `cluster`; returns its URL.
async fn create_database(cluster: &PgCluster, name: &str) -> anyhow::Result<String> {
    use sqlx::Connection as _;
    let mut admin = sqlx::PgConnection::connect(&cluster.url()).await?;
    // `name` is one of ours, never input.
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&mut admin)
        .await?;
    admin.close().await?;
    Ok(format!(
        "postgres://{SUPERUSER}@127.0.0.1:{}/{name}",
        cluster.port()
    ))
}
