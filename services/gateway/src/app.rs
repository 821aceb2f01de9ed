//! Building and running the gateway: shared state, the router, serving on a listener, and the
//! drain on shutdown (stop accepting, tell every connection to reconnect elsewhere, wait for
//! them within the grace period).

use std::future::Future;
use std::net::SocketAddr;
use std::ops::Deref;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::Router;
use axum::routing::{get, post};
use metrics_exporter_prometheus::PrometheusHandle;
use orderflow_auth::Authenticator;
use orderflow_runtime::health::{self, ReadinessCheck};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::config::GatewaySettings;
use crate::endpoints;
use crate::error::GatewayError;
use crate::groups::Groups;
use crate::registry::Registry;

/// The hub's path.
pub const HUB_PATH: &str = "/hubs/orders";

/// State shared by every request and connection.
pub struct Shared {
    /// The settings the gateway was started with.
    pub settings: GatewaySettings,
    /// Validates JWTs.
    pub auth: Authenticator,
    /// Negotiated connections.
    pub registry: Registry,
    /// Groups and their NATS subscriptions.
    pub groups: Groups,
    /// NATS connection.
    pub nats: async_nats::Client,
    /// JetStream, for `Resume` replays.
    pub jetstream: async_nats::jetstream::Context,
    /// Cancelled when the gateway drains.
    pub shutdown: CancellationToken,
    /// Tracks connection tasks so the drain can wait for them.
    pub tracker: TaskTracker,
    next_key: AtomicU64,
}

/// Cheap-to-clone handle on [`Shared`].
#[derive(Clone)]
pub struct AppState(Arc<Shared>);

impl Deref for AppState {
    type Target = Shared;
    fn deref(&self) -> &Shared {
        &self.0
    }
}

impl AppState {
    /// A process-unique key for a new connection.
    pub fn next_key(&self) -> u64 {
        self.next_key.fetch_add(1, Ordering::Relaxed)
    }
}

/// A gateway bound to its listener, ready to run.
pub struct Gateway {
    state: AppState,
    listener: TcpListener,
    metrics: PrometheusHandle,
}

impl Gateway {
    /// Connects to NATS and binds the listener (port 0 picks a free port).
    pub async fn build(settings: GatewaySettings) -> Result<Gateway, GatewayError> {
        let metrics = orderflow_runtime::metrics::install();
        let auth = Authenticator::new(settings.auth.clone())?;
        let nats =
            orderflow_runtime::connect::nats(&settings.nats_url, "orderflow-gateway").await?;
        let jetstream = async_nats::jetstream::new(nats.clone());
        let listener = TcpListener::bind(settings.listen).await?;
        let state = AppState(Arc::new(Shared {
            auth,
            registry: Registry::default(),
            groups: Groups::new(nats.clone()),
            nats,
            jetstream,
            shutdown: CancellationToken::new(),
            tracker: TaskTracker::new(),
            next_key: AtomicU64::new(1),
            settings,
        }));
        Ok(Gateway {
            state,
            listener,
            metrics,
        })
    }

    /// The address actually bound.
    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .unwrap_or(self.state.settings.listen)
    }

    /// The shared state (tests inspect groups and connections through it).
    pub fn state(&self) -> AppState {
        self.state.clone()
    }

    /// Serves until `shutdown` resolves, then drains.
    pub async fn run(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), GatewayError> {
        let state = self.state.clone();
        let router = router(self.state.clone(), self.metrics);
        let drain = state.shutdown.clone();
        let serve = axum::serve(
            self.listener,
            router.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .with_graceful_shutdown(async move {
            shutdown.await;
            tracing::info!("draining: closing connections with a reconnect hint");
            drain.cancel();
        });
        serve.await?;
        state.shutdown.cancel();
        state.tracker.close();
        if tokio::time::timeout(state.settings.drain_grace, state.tracker.wait())
            .await
            .is_err()
        {
            tracing::warn!("drain grace elapsed with connections still open");
        }
        // No NATS flush: the gateway publishes nothing, and a flush while NATS is unreachable
        // never returns, which kept a draining gateway alive until it was killed.
        Ok(())
    }
}

fn router(state: AppState, metrics: PrometheusHandle) -> Router {
    let nats = state.nats.clone();
    let draining = state.shutdown.clone();
    let ready: ReadinessCheck = Arc::new(move || {
        let nats = nats.clone();
        let draining = draining.clone();
        Box::pin(async move {
            if draining.is_cancelled() {
                return Err("draining".to_owned());
            }
            match nats.connection_state() {
                async_nats::connection::State::Connected => Ok(()),
                other => Err(format!("nats {other}")),
            }
        })
    });
    let cors = endpoints::cors(&state.settings.allowed_origins);
    Router::new()
        .route(
            &format!("{HUB_PATH}/negotiate"),
            post(endpoints::negotiate).layer(cors),
        )
        .route(HUB_PATH, get(endpoints::upgrade))
        .with_state(state)
        .merge(health::routes(vec![("nats", ready)], metrics))
}
