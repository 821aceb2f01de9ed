//! Building and running the gateway: shared state, the NATS connection and the two live
//! feeds, the router, serving on a listener, and the drain on shutdown (stop accepting, tell
//! every connection to reconnect elsewhere, wait for them within the grace period).

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;

use axum::Router;
use axum::http::Method;
use axum::routing::{get, post};
use metrics_exporter_prometheus::PrometheusHandle;
use orderflow_auth::Authenticator;
use orderflow_runtime::health::{self, ReadinessCheck};
use secrecy::ExposeSecret;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::config::GatewaySettings;
use crate::connection_token::TokenKey;
use crate::error::GatewayError;
use crate::feed::{Feed, FeedTask};
use crate::history::History;
use crate::protocol::StreamName;
use crate::registry::Registry;
pub use crate::state::{AppState, Shared};
use crate::{endpoints, http_transport};

/// The hub's path.
pub const HUB_PATH: &str = "/hubs/orders";

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
        let token_key = match &settings.connection_token_secret {
            Some(secret) => TokenKey::from_secret(secret.expose_secret().as_bytes()),
            None => {
                tracing::warn!(
                    "GATEWAY_CONNECTION_TOKEN_SECRET is not set: connection tokens are valid on this gateway only; set the same secret on every gateway"
                );
                TokenKey::random()
            }
        };
        let (link, link_changes) = watch::channel(0);
        let nats = crate::nats::connect(&settings.nats_url, link).await?;
        // A backlog of 4096: tokio's 128 overflowed when 10,000 clients came back at once, and every
        // overflow cost its client a one-second SYN retransmission.
        let listener = orderflow_runtime::serve::bind(settings.listen)?;
        let feeds = StreamName::ALL.map(|s| Feed::new(s, settings.replay_window));
        let state = AppState(Arc::new(Shared {
            auth,
            token_key,
            registry: Registry::default(),
            groups: Arc::default(),
            feeds,
            history: History::new(nats.clone()),
            presence: Arc::new(crate::presence::Presence::new(settings.presence_heartbeat)),
            nats,
            meters: crate::metrics::Meters::new(),
            shutdown: CancellationToken::new(),
            tracker: TaskTracker::new(),
            next_key: AtomicU64::new(1),
            negotiate_rate: orderflow_runtime::limits::SourceRate::new(
                f64::from(settings.negotiate_rate_per_source),
                5.0 * f64::from(settings.negotiate_rate_per_source),
            ),
            settings,
        }));
        for feed in &state.feeds {
            tokio::spawn(
                FeedTask {
                    feed: Arc::clone(feed),
                    groups: Arc::clone(&state.groups),
                    client: state.nats.clone(),
                    nats_url: state.settings.nats_url.clone(),
                    link_kind: state.settings.live_link,
                    history: state.history.clone(),
                    link: link_changes.clone(),
                    tail_check: state.settings.tail_check,
                    shutdown: state.shutdown.clone(),
                }
                .run(),
            );
        }
        tokio::spawn(
            crate::presence::task::PresenceTask {
                presence: Arc::clone(&state.presence),
                client: state.nats.clone(),
                flush: state.settings.presence_flush,
                heartbeat: state.settings.presence_heartbeat,
                shutdown: state.shutdown.clone(),
            }
            .run(),
        );
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
        let groups = Arc::clone(&state.groups);
        // The shared serve loop sets TCP_NODELAY (hub messages are small and answered at once),
        // the HTTP deadlines and the connection caps.
        orderflow_runtime::serve::serve(
            self.listener,
            router,
            state.settings.http.clone(),
            orderflow_runtime::limits::nofile_limit(),
            async move {
                shutdown.await;
                tracing::info!("draining: closing connections with a reconnect hint");
                drain.cancel();
                groups.raise_all();
            },
        )
        .await?;
        state.shutdown.cancel();
        state.tracker.close();
        if tokio::time::timeout(state.settings.drain_grace, state.tracker.wait())
            .await
            .is_err()
        {
            tracing::warn!("drain grace elapsed with connections still open");
        }
        // No NATS flush here: a flush while NATS is unreachable never returns, which kept a
        // draining gateway alive until it was killed. (The presence task's goodbye is flushed
        // by that task, within a second.)
        Ok(())
    }
}

fn router(state: AppState, metrics: PrometheusHandle) -> Router {
    let ready: ReadinessCheck = {
        let state = state.clone();
        Arc::new(move || {
            let state = state.clone();
            Box::pin(async move {
                if state.shutdown.is_cancelled() {
                    return Err("draining".to_owned());
                }
                if !state.is_ready() {
                    return Err("live feeds not started".to_owned());
                }
                match state.nats.connection_state() {
                    async_nats::connection::State::Connected => Ok(()),
                    other => Err(format!("nats {other}")),
                }
            })
        })
    };
    let origins = &state.settings.allowed_origins;
    Router::new()
        .route(
            &format!("{HUB_PATH}/negotiate"),
            post(endpoints::negotiate).layer(endpoints::cors(origins, &[Method::POST])),
        )
        .route(
            HUB_PATH,
            get(endpoints::hub_get)
                .post(http_transport::send)
                .delete(http_transport::delete)
                .layer(endpoints::cors(
                    origins,
                    &[Method::GET, Method::POST, Method::DELETE],
                )),
        )
        .with_state(state)
        .merge(health::routes(vec![("nats", ready)], metrics))
}
