//! What the orders and inventory benchmarks share: a database per service on the benchmark's
//! PostgreSQL, a service served on a free port, and an HTTP client that drives order
//! transitions as the dev admin, split over concurrent clients.

use std::sync::Arc;

use anyhow::Context as _;
use orderflow_auth::dev;
use orderflow_orders::domain::CustomerId;
use orderflow_orders::service::Actor;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

/// The admin a benchmark acts as, both through the orders service and over HTTP (its id).
pub fn bench_admin() -> (Uuid, Actor) {
    let admin = Uuid::new_v4();
    let actor = Actor {
        customer_id: CustomerId(admin),
        name: "Bench".into(),
        is_admin: true,
    };
    (admin, actor)
}

/// Creates database `name` on the server `server_url` points at and returns its URL.
pub async fn create_database(server_url: &str, name: &str) -> anyhow::Result<String> {
    use sqlx::Connection as _;
    let mut conn = sqlx::PgConnection::connect(server_url).await?;
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&mut conn)
        .await?;
    Ok(format!(
        "{}/{name}",
        server_url.rsplit_once('/').context("pg url")?.0
    ))
}

/// Serves `router` on a free loopback port until `shutdown`; returns its base URL.
pub async fn serve(router: axum::Router, shutdown: &CancellationToken) -> anyhow::Result<String> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}", listener.local_addr()?);
    let stop = shutdown.clone();
    tokio::spawn(async move {
        axum::serve(listener, router)
            .with_graceful_shutdown(async move { stop.cancelled().await })
            .await
    });
    Ok(base)
}

/// The orders API at `base`, called as an admin (who may make every transition).
#[derive(Clone)]
pub struct OrdersApi {
    client: reqwest::Client,
    token: String,
    base: String,
}

impl OrdersApi {
    /// A client for `base` keeping up to `connections` idle connections, as admin `user`.
    pub fn admin(base: &str, user: Uuid, connections: usize) -> anyhow::Result<Self> {
        Ok(Self {
            client: orderflow_runtime::http::client_builder()
                .pool_max_idle_per_host(connections)
                .build()?,
            token: dev::issue_hs256(
                dev::SECRET,
                dev::DevClaims::new(user).name("Bench").role("Admin"),
            ),
            base: base.to_owned(),
        })
    }

    /// `POST /api/orders/{id}/{action}`; anything but success is an error.
    pub async fn transition(&self, id: Uuid, action: &str) -> anyhow::Result<()> {
        let r = self
            .client
            .post(format!("{}/api/orders/{id}/{action}", self.base))
            .bearer_auth(&self.token)
            .send()
            .await?;
        anyhow::ensure!(r.status().is_success(), "{action} {id}: {}", r.status());
        Ok(())
    }

    /// `clients` closed-loop clients, each taking an equal share of `ids` and making every
    /// action of `actions` on each of its orders in turn, as fast as the answers come.
    pub fn spawn_clients(
        &self,
        ids: &[Uuid],
        clients: usize,
        actions: &'static [&'static str],
    ) -> Vec<JoinHandle<anyhow::Result<()>>> {
        let share = ids.len().div_ceil(clients.max(1)).max(1);
        ids.chunks(share)
            .map(|chunk| {
                let (api, chunk) = (self.clone(), Arc::<[Uuid]>::from(chunk));
                tokio::spawn(async move {
                    for id in chunk.iter() {
                        for action in actions {
                            api.transition(*id, action).await?;
                        }
                    }
                    anyhow::Ok(())
                })
            })
            .collect()
    }
}
