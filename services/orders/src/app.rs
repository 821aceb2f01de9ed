//! Wiring: the shared service skeleton (`orderflow_service`) plus what is the orders service's
//! own: its use cases and routes, the inventory-event consumer and the purge of expired
//! idempotency keys.

use axum::Router;
use orderflow_service::{Service, bind_retrying};
use tokio_util::sync::CancellationToken;

use crate::api::{self, ApiState};
use crate::config::Config;
use crate::idempotency;
use crate::reactions::{self, Reactions};
use crate::service::OrderService;
use crate::store;

/// A connected orders service, ready to serve. Its infrastructure (pool, connections, NATS) is
/// the [`Service`] it dereferences to.
#[derive(Clone)]
pub struct OrdersApp {
    service: Service,
}

orderflow_service::service_app!(OrdersApp);

impl OrdersApp {
    /// Connects to PostgreSQL (and migrates) and to NATS. NATS being down does not fail start-up:
    /// the client keeps reconnecting and events wait in the outbox.
    pub async fn connect(config: Config) -> anyhow::Result<Self> {
        let service = Service::connect(
            "orders",
            &config.database_url,
            config.db_max_connections,
            &config.common,
            store::migrate,
        )
        .await?;
        Ok(Self { service })
    }

    /// The use cases, waking this app's relay after each commit.
    pub fn orders(&self) -> OrderService {
        OrderService::new(self.connections.clone(), self.relay_waker.clone())
    }

    /// The API's own routes (`router()` adds health, readiness and metrics).
    pub fn api(&self) -> Router {
        api::routes(ApiState {
            orders: self.orders(),
            authenticator: self.authenticator.clone(),
        })
    }

    /// Starts the outbox relay, the inventory-event consumer and the purge of expired
    /// idempotency keys.
    pub fn spawn_background(&self, shutdown: &CancellationToken) {
        self.spawn_relay(shutdown);
        self.tasks
            .spawn(run_reactions(self.clone(), shutdown.clone()));
        self.tasks.spawn(idempotency::purge_forever(
            self.pool.clone(),
            shutdown.clone(),
        ));
    }
}

/// Binds the inventory-event consumer (retrying while NATS or the stream is not there yet) and
/// runs it.
async fn run_reactions(app: OrdersApp, shutdown: CancellationToken) {
    let bind = || {
        app.bind_consumer(
            orderflow_events::streams::INVENTORY,
            reactions::CONSUMER,
            reactions::subjects(),
            Reactions,
        )
    };
    if let Some(consumer) = bind_retrying("inventory consumer", &shutdown, bind).await {
        consumer.run(shutdown).await;
    }
}
