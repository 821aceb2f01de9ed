//! [`Service`]: what a REST service is besides its own use cases. It connects PostgreSQL and NATS,
//! wraps the service's API in the routes and layers every service has, runs the outbox relay,
//! and serves until shutdown, then publishes what the last requests committed.

use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use anyhow::Context as _;
use async_nats::jetstream;
use axum::Router;
use orderflow_auth::Authenticator;
use orderflow_connections::Connections;
use orderflow_inbox::{Consumer, Handler};
use orderflow_outbox::{Relay, RelaySettings, RelayWaker, StreamSettings, ensure_streams};
use orderflow_runtime::limits::HttpLimits;
use orderflow_runtime::readiness::{Dependency, Readiness};
use orderflow_runtime::{connect, health};
use secrecy::{ExposeSecret, SecretString};
use sqlx::PgPool;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tower_http::trace::{DefaultOnFailure, TraceLayer};

use crate::{Settings, http_metrics, postgres};

/// How long a stopping replica keeps publishing what its last requests committed; well inside
/// the 30 s Kubernetes gives a pod between SIGTERM and SIGKILL.
const FINAL_DRAIN: Duration = Duration::from_secs(5);

/// A connected REST service's infrastructure; cheap to clone.
#[derive(Clone)]
pub struct Service {
    /// The database pool, for everything but requests, consumers and the relay's batches.
    pub pool: PgPool,
    /// The requests' and consumers' connections.
    pub connections: Connections,
    /// The NATS client.
    pub nats: async_nats::Client,
    /// Validates bearer tokens.
    pub authenticator: Authenticator,
    /// Shared by the use cases (they wake it after each commit) and the relay.
    pub relay_waker: RelayWaker,
    /// The background tasks, so that a stopping service can wait for them.
    pub tasks: TaskTracker,
    streams: StreamSettings,
    http: HttpLimits,
}

impl Service {
    /// Connects to PostgreSQL at `database_url` (a pool, and up to `db_max_connections` kept
    /// connections for requests), brings its schema up to date with `migrate`, and connects to
    /// NATS as client `name`. NATS being down does not fail start-up: the client keeps
    /// reconnecting and events wait in the outbox.
    pub async fn connect(
        name: &str,
        database_url: &SecretString,
        db_max_connections: usize,
        settings: &Settings,
        migrate: impl AsyncFnOnce(&PgPool) -> anyhow::Result<()>,
    ) -> anyhow::Result<Self> {
        let pool = postgres::pool(database_url.expose_secret(), postgres::BACKGROUND_POOL)
            .await
            .with_context(|| format!("connecting to the {name} database"))?;
        migrate(&pool)
            .await
            .with_context(|| format!("migrating the {name} database"))?;
        let connections = Connections::like(&pool, db_max_connections);
        let nats = connect::nats(&settings.nats_url, name)
            .await
            .context("configuring the NATS client")?;
        let authenticator =
            Authenticator::new(settings.auth.clone()).context("configuring token validation")?;
        Ok(Self {
            pool,
            connections,
            nats,
            authenticator,
            relay_waker: RelayWaker::default(),
            tasks: TaskTracker::new(),
            streams: settings.streams.clone(),
            http: settings.http.clone(),
        })
    }

    /// The JetStream context used for publishing and consuming.
    pub fn jetstream(&self) -> jetstream::Context {
        jetstream::new(self.nats.clone())
    }

    /// Creates the streams if needed and binds the durable consumer `durable` of `stream` for
    /// `subjects`, applying each event with `handler` in this service's database.
    pub async fn bind_consumer<H: Handler>(
        &self,
        stream: &str,
        durable: &str,
        subjects: Vec<String>,
        handler: H,
    ) -> anyhow::Result<Consumer<H>> {
        let js = self.jetstream();
        ensure_streams(&js, &self.streams).await?;
        Ok(Consumer::bind(&js, stream, durable, subjects, self.pool.clone(), handler).await?)
    }

    /// `api`, its requests counted per route ([`http_metrics`]), with health, readiness and
    /// metrics routes and request tracing. Starts the readiness probe, so call it within a
    /// Tokio runtime.
    pub fn router(&self, api: Router) -> Router {
        // Without PostgreSQL no request can be served. Without NATS every request still is
        // (events wait in the outbox), so a broker outage only shows as degraded: taking the API
        // out of rotation for it would turn a broker restart into an outage. (Consumers cannot
        // apply anything without NATS either, but taking the API away would not help them.)
        let readiness = Readiness::start(vec![
            Dependency::required(postgres::readiness_check(self.pool.clone())),
            Dependency::degrading(health::nats_check(self.nats.clone())),
        ]);
        api.route_layer(axum::middleware::from_fn(http_metrics::record))
            .merge(readiness.routes(orderflow_runtime::metrics::install()))
            .layer(
                TraceLayer::new_for_http()
                    .make_span_with(orderflow_runtime::telemetry::span_without_query)
                    // A 5xx is logged where it is made: a 500's cause once, a 503 as part of a
                    // summarised outage. One more line per failed request would undo that.
                    .on_failure(DefaultOnFailure::new().level(tracing::Level::DEBUG)),
            )
    }

    /// Starts the outbox relay, until `stop`.
    pub fn spawn_relay(&self, stop: &CancellationToken) {
        let relay = Relay::new(
            self.pool.clone(),
            self.jetstream(),
            RelaySettings::default(),
        )
        .woken_by(self.relay_waker.clone());
        self.tasks
            .spawn(relay.run(self.streams.clone(), stop.clone()));
    }

    /// Serves `router` on `listener` until `shutdown`, with the background tasks that
    /// `spawn_background` starts (given the token that stops them); then finishes the requests
    /// in flight and publishes the events they committed.
    pub async fn serve(
        &self,
        listener: TcpListener,
        router: Router,
        shutdown: CancellationToken,
        spawn_background: impl FnOnce(&CancellationToken),
    ) -> anyhow::Result<()> {
        // The background tasks outlive the HTTP server: requests still running when the signal
        // comes commit events, which this replica then publishes itself instead of leaving them
        // to the next start (with one replica, nobody would see them until then).
        let background = CancellationToken::new();
        spawn_background(&background);
        let served = orderflow_runtime::serve::serve(
            listener,
            router,
            self.http.clone(),
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

/// Binds with `bind` until it succeeds (NATS or the stream may not be there yet), retrying each
/// second; `None` if `shutdown` comes first. `what` names the consumer in the log.
pub async fn bind_retrying<C, F, Fut>(
    what: &str,
    shutdown: &CancellationToken,
    mut bind: F,
) -> Option<C>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = anyhow::Result<C>>,
{
    loop {
        match bind().await {
            Ok(bound) => return Some(bound),
            Err(e) => {
                tracing::warn!(error = %e, "{what} not ready; retrying");
                tokio::select! {
                    () = shutdown.cancelled() => return None,
                    () = tokio::time::sleep(Duration::from_secs(1)) => {}
                }
            }
        }
    }
}

/// What a service binary does before connecting: raise the descriptor limit (the connection
/// caps are derived from it: take all the operator allows), bind `address`, and say so.
pub fn listen(name: &str, address: SocketAddr) -> anyhow::Result<TcpListener> {
    orderflow_runtime::limits::raise_nofile_limit();
    let listener = orderflow_runtime::serve::bind(address)?;
    tracing::info!(address = %listener.local_addr()?, "{name} service listening");
    Ok(listener)
}
