//! Wiring: connects PostgreSQL and NATS, builds the router, and runs the outbox relay and the
//! order-event consumer next to the HTTP server until shutdown.

use std::time::Duration;

use anyhow::Context as _;
use async_nats::jetstream;
use axum::Router;
use orderflow_auth::Authenticator;
use orderflow_connections::Connections;
use orderflow_inbox::Consumer;
use orderflow_outbox::{Relay, RelaySettings, RelayWaker, ensure_streams};
use orderflow_runtime::readiness::{Dependency, Readiness};
use orderflow_runtime::{connect, health};
use secrecy::ExposeSecret;
use sqlx::PgPool;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tower_http::trace::{DefaultOnFailure, TraceLayer};

use crate::api::{self, ApiState};
use crate::config::Config;
use crate::reservations::{self, StockReservations};
use crate::service::CatalogService;
use crate::store;

/// A connected inventory service, ready to serve.
#[derive(Clone)]
pub struct InventoryApp {
    config: Config,
    /// The database pool, for everything but requests, consumers and the relay's batches.
    pub pool: PgPool,
    /// The requests' connections.
    pub connections: Connections,
    /// The NATS client.
    pub nats: async_nats::Client,
    authenticator: Authenticator,
    /// Shared by the catalog use cases (they wake it after each commit) and the relay.
    relay_waker: RelayWaker,
    /// The background tasks, so that a stopping service can wait for them.
    tasks: TaskTracker,
}

impl InventoryApp {
    /// Connects to PostgreSQL (and migrates) and to NATS. NATS being down does not fail
    /// start-up: the client keeps reconnecting and events wait in the outbox.
    pub async fn connect(config: Config) -> anyhow::Result<Self> {
        let pool = connect::postgres(
            config.database_url.expose_secret(),
            connect::BACKGROUND_POOL,
        )
        .await
        .context("connecting to the inventory database")?;
        store::migrate(&pool)
            .await
            .context("migrating the inventory database")?;
        let connections = Connections::like(&pool, config.db_max_connections);
        let nats = connect::nats(&config.nats_url, "inventory")
            .await
            .context("configuring the NATS client")?;
        let authenticator =
            Authenticator::new(config.auth.clone()).context("configuring token validation")?;
        Ok(Self {
            config,
            pool,
            connections,
            nats,
            authenticator,
            relay_waker: RelayWaker::default(),
            tasks: TaskTracker::new(),
        })
    }

    /// The JetStream context used for publishing and consuming.
    pub fn jetstream(&self) -> jetstream::Context {
        jetstream::new(self.nats.clone())
    }

    /// The catalog and stock use cases.
    pub fn catalog(&self) -> CatalogService {
        CatalogService::new(self.connections.clone(), self.relay_waker.clone())
    }

    /// Creates the streams if needed and binds the durable order-event consumer. Tests call
    /// this to drive the consumer step by step.
    pub async fn bind_consumer(&self) -> anyhow::Result<Consumer<StockReservations>> {
        let js = self.jetstream();
        ensure_streams(&js, &self.config.streams).await?;
        Ok(Consumer::bind(
            &js,
            orderflow_events::streams::ORDERS,
            reservations::CONSUMER,
            reservations::subjects(),
            self.pool.clone(),
            StockReservations,
        )
        .await?)
    }

    /// All HTTP routes: the API, health and metrics. Starts the readiness probe, so call it
    /// within a Tokio runtime.
    pub fn router(&self) -> Router {
        let state = ApiState {
            catalog: self.catalog(),
            authenticator: self.authenticator.clone(),
        };
        // Readiness is about the REST API, which needs PostgreSQL only: catalog and stock
        // changes wait in the outbox while NATS is away. The order-event consumer cannot apply
        // anything without NATS, but taking the API out of rotation would not help it, so a
        // broker outage shows as degraded (and in `inbox_consumer_pending` once it is back).
        let readiness = Readiness::start(vec![
            Dependency::required(health::postgres_check(self.pool.clone())),
            Dependency::degrading(health::nats_check(self.nats.clone())),
        ]);
        api::routes(state)
            .merge(readiness.routes(orderflow_runtime::metrics::install()))
            .layer(
                TraceLayer::new_for_http()
                    .make_span_with(orderflow_runtime::telemetry::span_without_query)
                    // A 5xx is logged where it is made: a 500's cause once, a 503 as part of a
                    // summarised outage. One more line per failed request would undo that.
                    .on_failure(DefaultOnFailure::new().level(tracing::Level::DEBUG)),
            )
    }

    /// Starts the outbox relay and the order-event consumer workers.
    pub fn spawn_background(&self, shutdown: &CancellationToken) {
        self.spawn_relay(shutdown);
        self.spawn_consumers(shutdown);
    }

    /// Starts only the outbox relay, until `stop`.
    pub fn spawn_relay(&self, stop: &CancellationToken) {
        let relay = Relay::new(
            self.pool.clone(),
            self.jetstream(),
            RelaySettings::default(),
        )
        .woken_by(self.relay_waker.clone());
        self.tasks
            .spawn(relay.run(self.config.streams.clone(), stop.clone()));
    }

    /// Starts only the order-event consumer workers, until `stop` (the benchmark stops and
    /// restarts them to measure how fast a backlog drains).
    pub fn spawn_consumers(&self, stop: &CancellationToken) {
        for _ in 0..self.config.consumer_workers {
            self.tasks.spawn(run_consumer(self.clone(), stop.clone()));
        }
    }

    /// Serves on `listener` until `shutdown`, with the background tasks; then finishes the
    /// requests in flight and publishes the events they committed.
    pub async fn serve(
        self,
        listener: TcpListener,
        shutdown: CancellationToken,
    ) -> anyhow::Result<()> {
        // The background tasks outlive the HTTP server: requests still running when the signal
        // comes commit events, which this replica then publishes itself instead of leaving them
        // to the next start (with one replica, nobody would see them until then).
        let background = CancellationToken::new();
        self.spawn_background(&background);
        let router = self.router();
        let served = orderflow_runtime::serve::serve(
            listener,
            router,
            self.config.http.clone(),
            orderflow_runtime::limits::nofile_limit(),
            async move { shutdown.cancelled().await },
        )
        .await
        .context("serving HTTP");
        // Background work stops at its next step; a consumer first applies and acks the batch
        // it holds.
        background.cancel();
        orderflow_runtime::shutdown::wait_for_tasks(&self.tasks, FINAL_DRAIN).await;
        self.publish_remaining().await;
        served
    }

    /// Publishes what is left in the outbox, for at most [`FINAL_DRAIN`]
    /// ([`Relay::drain_within`]). The last step of [`Self::serve`].
    pub async fn publish_remaining(&self) -> usize {
        let relay = Relay::new(
            self.pool.clone(),
            self.jetstream(),
            RelaySettings::default(),
        );
        relay.drain_within(FINAL_DRAIN).await
    }
}

/// How long a stopping replica keeps publishing what its last requests committed; well inside
/// the 30 s Kubernetes gives a pod between SIGTERM and SIGKILL.
const FINAL_DRAIN: Duration = Duration::from_secs(5);

/// Binds the consumer (retrying while NATS or the stream is not there yet) and runs it.
async fn run_consumer(app: InventoryApp, shutdown: CancellationToken) {
    let consumer = loop {
        match app.bind_consumer().await {
            Ok(c) => break c,
            Err(e) => {
                tracing::warn!(error = %e, "order-event consumer not ready; retrying");
                tokio::select! {
                    () = shutdown.cancelled() => return,
                    () = tokio::time::sleep(Duration::from_secs(1)) => {}
                }
            }
        }
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
