//! `/healthz`, `/readyz` and `/metrics` routes. Liveness says the process answers; readiness
//! asks the service's own checks (database, NATS) so load balancers stop sending traffic to a
//! replica that cannot serve it.
//!
//! [`routes`] runs its checks on every `/readyz` call, which suits checks that answer at once
//! (the gateway's). A check that waits for a server (PostgreSQL) belongs behind
//! [`crate::readiness::Readiness`], which probes in the background and answers at once.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use axum::Router;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::get;
use metrics_exporter_prometheus::PrometheusHandle;
use serde_json::json;

/// A named readiness check; `Err` carries a short reason that is safe to show operators.
pub type ReadinessCheck =
    Arc<dyn Fn() -> Pin<Box<dyn Future<Output = Result<(), String>> + Send>> + Send + Sync>;

/// Builds the operational routes. `checks` are run concurrently on every `/readyz` call.
pub fn routes<S>(
    checks: Vec<(&'static str, ReadinessCheck)>,
    metrics: PrometheusHandle,
) -> Router<S>
where
    S: Clone + Send + Sync + 'static,
{
    let checks = Arc::new(checks);
    Router::new()
        .route("/healthz", get(|| async { (StatusCode::OK, "ok") }))
        .route(
            "/readyz",
            get(move || {
                let checks = Arc::clone(&checks);
                async move { readiness(&checks).await }
            }),
        )
        .route("/metrics", get(move || async move { metrics.render() }))
}

async fn readiness(checks: &[(&'static str, ReadinessCheck)]) -> axum::response::Response {
    let results = futures::future::join_all(
        checks
            .iter()
            .map(|(name, check)| async move { (*name, check().await) }),
    )
    .await;
    let ready = results.iter().all(|(_, r)| r.is_ok());
    let body: serde_json::Map<String, serde_json::Value> = results
        .into_iter()
        .map(|(name, r)| {
            let v = match r {
                Ok(()) => json!("ok"),
                Err(reason) => json!(reason),
            };
            (name.to_owned(), v)
        })
        .collect();
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (
        status,
        axum::Json(json!({ "ready": ready, "checks": body })),
    )
        .into_response()
}

/// Readiness of a NATS client: it is connected right now.
pub fn nats_check(client: async_nats::Client) -> (&'static str, ReadinessCheck) {
    let check: ReadinessCheck = Arc::new(move || {
        let state = client.connection_state();
        Box::pin(async move {
            match state {
                async_nats::connection::State::Connected => Ok(()),
                other => Err(other.to_string()),
            }
        })
    });
    ("nats", check)
}
