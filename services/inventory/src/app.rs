//! Wiring: the shared service skeleton (`orderflow_service`) plus what is the inventory
//! service's own: its use cases and routes, and the order-event consumer workers.

use std::time::Duration;

use axum::Router;
use orderflow_inbox::Consumer;
use orderflow_service::{Service, bind_retrying};
use tokio_util::sync::CancellationToken;

use crate::api::{self, ApiState};
use crate::config::Config;
use crate::reservations::{self, StockReservations};
use crate::service::CatalogService;
use crate::store;

/// A connected inventory service, ready to serve. Its infrastructure (pool, connections, NATS)
/// is the [`Service`] it dereferences to.
#[derive(Clone)]
pub struct InventoryApp {
    service: Service,
    consumer_workers: u16,
}

orderflow_service::service_app!(InventoryApp);

impl InventoryApp {
    /// Connects to PostgreSQL (and migrates) and to NATS. NATS being down does not fail
    /// start-up: the client keeps reconnecting and events wait in the outbox.
    pub async fn connect(config: Config) -> anyhow::Result<Self> {
        let service = Service::connect(
            "inventory",
            &config.database_url,
            config.db_max_connections,
            &config.common,
            store::migrate,
        )
        .await?;
        Ok(Self {
            service,
            consumer_workers: config.consumer_workers,
        })
    }

    /// The catalog and stock use cases.
    pub fn catalog(&self) -> CatalogService {
        CatalogService::new(self.connections.clone(), self.relay_waker.clone())
    }

    /// Binds the durable order-event consumer (creating the streams if needed). Tests call
    /// this to drive the consumer step by step.
    pub async fn bind_consumer(&self) -> anyhow::Result<Consumer<StockReservations>> {
        self.service
            .bind_consumer(
                orderflow_events::streams::ORDERS,
                reservations::CONSUMER,
                reservations::subjects(),
                StockReservations,
            )
            .await
    }

    /// The API's own routes (`router()` adds health, readiness and metrics).
    pub fn api(&self) -> Router {
        api::routes(ApiState {
            catalog: self.catalog(),
            authenticator: self.authenticator.clone(),
        })
    }

    /// Starts the outbox relay and the order-event consumer workers.
    pub fn spawn_background(&self, shutdown: &CancellationToken) {
        self.spawn_relay(shutdown);
        self.spawn_consumers(shutdown);
    }

    /// Starts only the order-event consumer workers, until `stop` (the benchmark stops and
    /// restarts them to measure how fast a backlog drains).
    pub fn spawn_consumers(&self, stop: &CancellationToken) {
        for _ in 0..self.consumer_workers {
            self.tasks.spawn(run_consumer(self.clone(), stop.clone()));
        }
    }
}

/// Binds the consumer (retrying while NATS or the stream is not there yet) and runs it.
async fn run_consumer(app: InventoryApp, shutdown: CancellationToken) {
    let bind = || app.bind_consumer();
    let Some(consumer) = bind_retrying("order-event consumer", &shutdown, bind).await else {
        return;
    };
    // Each step applies what it fetched in one transaction (one commit per batch). Workers
    // overlap one batch's fetch, acks and commit flush with another's work; their batches lock
    // shared products in one global order (see `StockReservations::lock`), so they queue
    // rather than deadlock.
    // A stop while a batch is being applied lets it finish and ack (milliseconds), so a
    // SIGTERM leaves nothing to wait out `ack_wait`.
    while !shutdown.is_cancelled() {
        let result = consumer
            .step_until(CONSUMER_BATCH, Duration::from_secs(1), &shutdown)
            .await;
        if let Err(e) = result {
            tracing::warn!(error = %e, "order-event consumer step failed");
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }
}

/// Messages one consumer worker fetches, and applies in one transaction, at a time. Large
/// enough to amortise a commit's disk flush over many events, small enough that a batch is
/// applied in milliseconds, inside the consumer's short ack wait (`orderflow_inbox::ACK_WAIT`;
/// a batch that waits longer for locks marks its messages in progress). A replica killed
/// mid-batch delays at most this many events per worker, each by that ack wait.
const CONSUMER_BATCH: usize = 128;
