//! Wiring: connects PostgreSQL and NATS, builds the router, and runs the relay and the event
//! consumer next to the HTTP server until shutdown.

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
use crate::idempotency;
use crate::reactions::{self, Reactions};
use crate::service::OrderService;
use crate::store;

/// A connected orders service, ready to serve.
#[derive(Clone)]
pub struct OrdersApp {
    config: Config,
    /// The database pool, for everything but requests.
    pub pool: PgPool,
    /// The requests' connections.
    pub connections: Connections,
    /// The NATS client.
    pub nats: async_nats::Client,
    authenticator: Authenticator,
    /// Shared by the request handlers (they wake it after each commit) and the relay.
    relay_waker: RelayWaker,
    /// The background tasks, so that a stopping service can wait for them.
    tasks: TaskTracker,
}

impl OrdersApp {
    /// Connects to PostgreSQL (and migrates) and to NATS. NATS being down does not fail start-up:
    /// the client keeps reconnecting and events wait in the outbox.
    pub async fn connect(config: Config) -> anyhow::Result<Self> {
        let pool = connect::postgres(
            config.database_url.expose_secret(),
            connect::BACKGROUND_POOL,
        )
        .await
        .context("connecting to the orders database")?;
        store::migrate(&pool)
            .await
            .context("migrating the orders database")?;
        let connections = Connections::like(&pool, config.db_max_connections);
        let nats = connect::nats(&config.nats_url, "orders")
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

    /// The use cases, waking this app's relay after each commit.
    pub fn orders(&self) -> OrderService {
        OrderService::new(self.connections.clone(), self.relay_waker.clone())
    }

    /// All HTTP routes: the API, health and metrics. Starts the readiness probe, so call it
    /// within a Tokio runtime.
    pub fn router(&self) -> Router {
        let state = ApiState {
            orders: self.orders(),
            authenticator: self.authenticator.clone(),
        };
        // Without PostgreSQL no request can be served. Without NATS every request still is
        // (events wait in the outbox), so a broker outage only shows as degraded: taking the
        // API out of rotation for it would turn a broker restart into an outage.
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

    /// Starts the outbox relay, the inventory-event consumer and the purge of expired
    /// idempotency keys.
    pub fn spawn_background(&self, shutdown: &CancellationToken) {
        let relay = Relay::new(
            self.pool.clone(),
            self.jetstream(),
            RelaySettings::default(),
        )
        .woken_by(self.relay_waker.clone());
        self.tasks
            .spawn(relay.run(self.config.streams.clone(), shutdown.clone()));
        self.tasks
            .spawn(run_reactions(self.clone(), shutdown.clone()));
        self.tasks.spawn(idempotency::purge_forever(
            self.pool.clone(),
            shutdown.clone(),
        ));
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

async fn run_reactions(app: OrdersApp, shutdown: CancellationToken) {
    let js = app.jetstream();
    let consumer = loop {
        let bound = async {
            ensure_streams(&js, &app.config.streams)
                .await
                .map_err(|e| e.to_string())?;
            Consumer::bind(
                &js,
                orderflow_events::streams::INVENTORY,
                reactions::CONSUMER,
                reactions::subjects(),
                app.pool.clone(),
                Reactions,
            )
            .await
            .map_err(|e| e.to_string())
        };
        match bound.await {
            Ok(c) => break c,
            Err(e) => {
                tracing::warn!(error = %e, "inventory consumer not ready; retrying");
                tokio::select! {
                    () = shutdown.cancelled() => return,
                    () = tokio::time::sleep(Duration::from_secs(1)) => {}
                }
            }
        }
    };
    consumer.run(shutdown).await;
}
