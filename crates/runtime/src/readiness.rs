//! Readiness answered from a background probe, so `/readyz` costs nothing and never waits for
//! a dependency: while PostgreSQL is down, a check that asks it on every call would hold each
//! probe for as long as connecting takes to fail, and probes pile up exactly when the answer
//! matters.
//!
//! Each dependency has a [`Role`]. Readiness means "can serve requests": a `Required`
//! dependency (the database) makes the service unready when it fails; a `Degrading` one (NATS
//! for a service that keeps serving while its events wait in the outbox) is reported under
//! `degraded` in the body and as `dependency_up 0` in the metrics, but leaves the service in
//! rotation. Taking a replica out of rotation for something it does not need to answer would
//! turn a broker restart into an API outage.

use std::sync::{Arc, Weak};
use std::time::Duration;

use axum::Router;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use metrics_exporter_prometheus::PrometheusHandle;
use serde_json::{Map, Value, json};
use tokio::sync::watch;

use crate::health::ReadinessCheck;

/// How often every dependency is checked; also how stale an answer can be.
pub const PROBE_EVERY: Duration = Duration::from_secs(1);
/// A check that has not answered within this has failed ("timed out").
pub const PROBE_TIMEOUT: Duration = Duration::from_secs(1);
/// How long `/readyz` waits for the very first probe right after start before saying "not
/// ready yet".
const FIRST_PROBE_WAIT: Duration = Duration::from_millis(500);

/// What a failing dependency means for the service.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// Requests cannot be served without it: the service is unready while it fails.
    Required,
    /// The service keeps serving without it, in a reduced way: reported as degraded only.
    Degrading,
}

/// A dependency to probe.
pub struct Dependency {
    name: &'static str,
    role: Role,
    check: ReadinessCheck,
}

impl Dependency {
    /// A dependency the service cannot serve without (e.g. [`crate::health::postgres_check`]).
    pub fn required((name, check): (&'static str, ReadinessCheck)) -> Self {
        Self {
            name,
            role: Role::Required,
            check,
        }
    }

    /// A dependency whose loss only degrades the service (e.g. [`crate::health::nats_check`]).
    pub fn degrading((name, check): (&'static str, ReadinessCheck)) -> Self {
        Self {
            name,
            role: Role::Degrading,
            check,
        }
    }
}

/// One dependency's state at the last probe.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Status {
    /// The dependency, e.g. `postgres`.
    pub name: &'static str,
    /// What its failure means.
    pub role: Role,
    /// `Err` carries a short reason safe to show operators.
    pub result: Result<(), String>,
}

/// Every dependency's state at one probe.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Snapshot {
    /// In the order the dependencies were given.
    pub statuses: Vec<Status>,
}

impl Snapshot {
    /// Every required dependency is up.
    pub fn ready(&self) -> bool {
        self.statuses
            .iter()
            .all(|s| s.role != Role::Required || s.result.is_ok())
    }

    /// The degrading dependencies that are down.
    pub fn degraded(&self) -> Vec<&'static str> {
        self.statuses
            .iter()
            .filter(|s| s.role == Role::Degrading && s.result.is_err())
            .map(|s| s.name)
            .collect()
    }

    /// The `/readyz` body: `ready`, each check's `ok` or reason, and the degraded ones.
    pub fn to_json(&self) -> Value {
        let checks: Map<String, Value> = self
            .statuses
            .iter()
            .map(|s| {
                let v = match &s.result {
                    Ok(()) => json!("ok"),
                    Err(reason) => json!(reason),
                };
                (s.name.to_owned(), v)
            })
            .collect();
        json!({ "ready": self.ready(), "checks": checks, "degraded": self.degraded() })
    }
}

/// The service's readiness, kept current by a background probe. Cheap to clone.
#[derive(Clone)]
pub struct Readiness {
    inner: Arc<Inner>,
}

struct Inner {
    dependencies: Vec<Dependency>,
    latest: watch::Sender<Option<Snapshot>>,
}

impl Readiness {
    /// Starts probing `dependencies` at once and then every [`PROBE_EVERY`]. Must be called
    /// within a Tokio runtime; the probing task ends when the last clone is dropped.
    pub fn start(dependencies: Vec<Dependency>) -> Self {
        let readiness = Self {
            inner: Arc::new(Inner {
                dependencies,
                latest: watch::channel(None).0,
            }),
        };
        tokio::spawn(probe_forever(Arc::downgrade(&readiness.inner)));
        readiness
    }

    /// One probe: checks every dependency concurrently, each bounded by [`PROBE_TIMEOUT`],
    /// exports `dependency_up{dependency}` and makes the result the latest.
    pub async fn probe(&self) -> Snapshot {
        let statuses = futures::future::join_all(self.inner.dependencies.iter().map(|d| async {
            let result = match tokio::time::timeout(PROBE_TIMEOUT, (d.check)()).await {
                Ok(result) => result,
                Err(_) => Err("timed out".to_owned()),
            };
            let up = if result.is_ok() { 1.0 } else { 0.0 };
            metrics::gauge!("dependency_up", "dependency" => d.name).set(up);
            Status {
                name: d.name,
                role: d.role,
                result,
            }
        }))
        .await;
        let snapshot = Snapshot { statuses };
        self.inner.latest.send_replace(Some(snapshot.clone()));
        snapshot
    }

    /// The latest probe's result, without waiting for a dependency; right after start it
    /// waits a little for the first probe, `None` if that has not finished.
    pub async fn latest(&self) -> Option<Snapshot> {
        let mut latest = self.inner.latest.subscribe();
        let first = tokio::time::timeout(FIRST_PROBE_WAIT, latest.wait_for(Option::is_some));
        match first.await {
            Ok(Ok(snapshot)) => snapshot.clone(),
            _ => None,
        }
    }

    /// `/healthz` (the process answers), `/readyz` (from the latest probe: 200 when ready,
    /// 503 when not) and `/metrics`.
    pub fn routes<S>(&self, metrics: PrometheusHandle) -> Router<S>
    where
        S: Clone + Send + Sync + 'static,
    {
        let readiness = self.clone();
        Router::new()
            .route("/healthz", get(|| async { (StatusCode::OK, "ok") }))
            .route(
                "/readyz",
                get(move || {
                    let readiness = readiness.clone();
                    async move { respond(readiness.latest().await) }
                }),
            )
            .route("/metrics", get(move || async move { metrics.render() }))
    }
}

fn respond(snapshot: Option<Snapshot>) -> Response {
    let Some(snapshot) = snapshot else {
        let body = json!({ "ready": false, "checks": {}, "degraded": [], "starting": true });
        return (StatusCode::SERVICE_UNAVAILABLE, axum::Json(body)).into_response();
    };
    let status = if snapshot.ready() {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, axum::Json(snapshot.to_json())).into_response()
}

/// Probes until the readiness it belongs to is gone.
async fn probe_forever(inner: Weak<Inner>) {
    loop {
        let Some(inner) = inner.upgrade() else {
            return;
        };
        Readiness { inner }.probe().await;
        tokio::time::sleep(PROBE_EVERY).await;
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::time::Duration;

    use super::{Dependency, PROBE_EVERY, PROBE_TIMEOUT, Readiness};
    use crate::health::ReadinessCheck;

    /// A check whose answer the test sets; `hang` makes it never answer.
    fn switch(up: &Arc<AtomicBool>, hang: &Arc<AtomicBool>) -> ReadinessCheck {
        let (up, hang) = (up.clone(), hang.clone());
        Arc::new(move || {
            let (up, hang) = (up.load(Ordering::SeqCst), hang.load(Ordering::SeqCst));
            Box::pin(async move {
                if hang {
                    std::future::pending::<()>().await;
                }
                if up { Ok(()) } else { Err("down".to_owned()) }
            })
        })
    }

    #[tokio::test(start_paused = true)]
    async fn a_hanging_check_never_holds_readyz_and_fails_after_the_timeout() {
        let (db_up, db_hang) = (
            Arc::new(AtomicBool::new(true)),
            Arc::new(AtomicBool::new(false)),
        );
        let (nats_up, no_hang) = (
            Arc::new(AtomicBool::new(true)),
            Arc::new(AtomicBool::new(false)),
        );
        let readiness = Readiness::start(vec![
            Dependency::required(("postgres", switch(&db_up, &db_hang))),
            Dependency::degrading(("nats", switch(&nats_up, &no_hang))),
        ]);
        assert!(readiness.latest().await.unwrap().ready());

        db_hang.store(true, Ordering::SeqCst);
        // Just after the next probe began (timers due at the same instant run in any order).
        let tick = Duration::from_millis(1);
        tokio::time::sleep(PROBE_EVERY + tick).await;
        // The probe now waits on the hanging check; the answer is the previous probe's, at once.
        let before = tokio::time::Instant::now();
        assert!(readiness.latest().await.unwrap().ready());
        assert_eq!(before.elapsed(), Duration::ZERO);

        tokio::time::sleep(PROBE_TIMEOUT).await;
        let snapshot = readiness.latest().await.unwrap();
        assert!(!snapshot.ready());
        assert_eq!(snapshot.to_json()["checks"]["postgres"], "timed out");
    }

    #[tokio::test(start_paused = true)]
    async fn a_degrading_dependency_down_keeps_the_service_ready() {
        let (db_up, nats_up, no) = (
            Arc::new(AtomicBool::new(true)),
            Arc::new(AtomicBool::new(false)),
            Arc::new(AtomicBool::new(false)),
        );
        let readiness = Readiness::start(vec![
            Dependency::required(("postgres", switch(&db_up, &no))),
            Dependency::degrading(("nats", switch(&nats_up, &no))),
        ]);
        let snapshot = readiness.latest().await.unwrap();
        assert!(snapshot.ready());
        assert_eq!(snapshot.degraded(), vec!["nats"]);
        let body = snapshot.to_json();
        assert_eq!(body["ready"], true);
        assert_eq!(body["checks"]["nats"], "down");
        assert_eq!(body["degraded"][0], "nats");

        db_up.store(false, Ordering::SeqCst);
        nats_up.store(true, Ordering::SeqCst);
        tokio::time::sleep(PROBE_EVERY + Duration::from_millis(1)).await;
        let snapshot = readiness.latest().await.unwrap();
        assert!(!snapshot.ready());
        assert!(snapshot.degraded().is_empty());
    }

    #[tokio::test(start_paused = true)]
    async fn the_probe_stops_when_the_readiness_is_dropped() {
        let probes = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counted = probes.clone();
        let check: ReadinessCheck = Arc::new(move || {
            counted.fetch_add(1, Ordering::SeqCst);
            Box::pin(async { Ok(()) })
        });
        let readiness = Readiness::start(vec![Dependency::required(("x", check))]);
        tokio::time::sleep(PROBE_EVERY * 3 + Duration::from_millis(1)).await;
        assert_eq!(
            probes.load(Ordering::SeqCst),
            4,
            "at once, then every PROBE_EVERY"
        );
        drop(readiness);
        tokio::time::sleep(PROBE_EVERY * 3).await;
        assert_eq!(probes.load(Ordering::SeqCst), 4);
    }
}
