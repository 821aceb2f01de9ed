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
use orderflow_runtime::{connect, health};
use secrecy::ExposeSecret;
use sqlx::PgPool;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tower_http::trace::TraceLayer;

use crate::api::{self, ApiState};
use crate::config::Config;
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

    /// All HTTP routes: the API, health and metrics.
    pub fn router(&self) -> Router {
        let state = ApiState {
            orders: self.orders(),
            authenticator: self.authenticator.clone(),
        };
        let checks = vec![
            health::postgres_check(self.pool.clone()),
            health::nats_check(self.nats.clone()),
        ];
        api::routes(state)
            .merge(health::routes(
                checks,
                orderflow_runtime::metrics::install(),
            ))
            .layer(
                TraceLayer::new_for_http()
                    .make_span_with(orderflow_runtime::telemetry::span_without_query),
            )
    }

    /// Starts the outbox relay and the inventory-event consumer.
    pub fn spawn_background(&self, shutdown: &CancellationToken) {
        let relay = Relay::new(
            self.pool.clone(),
            self.jetstream(),
            RelaySettings::default(),
        )
        .woken_by(self.relay_waker.clone());
        tokio::spawn(relay.run(self.config.streams.clone(), shutdown.clone()));
        tokio::spawn(run_reactions(self.clone(), shutdown.clone()));
    }

    /// Serves on `listener` until `shutdown`, with the background tasks.
    pub async fn serve(
        self,
        listener: TcpListener,
        shutdown: CancellationToken,
    ) -> anyhow::Result<()> {
        self.spawn_background(&shutdown);
        let router = self.router();
        axum::serve(listener, router)
            .with_graceful_shutdown(async move { shutdown.cancelled().await })
            .await
            .context("serving HTTP")
    }
}

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
