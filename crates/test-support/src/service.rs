//! For tests that run a service in process (feature `service`): [`spawn`] starts one on its
//! own NATS and database, its router served on a free port with a client ([`Served`]); the
//! assertions every service's API tests share (problem
//! documents, a database outage's 503, the operational endpoints, a NATS outage), and a gate
//! for tests that read process-wide metrics ([`metrics_gate`]).

use std::future::Future;
use std::ops::Deref;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use sqlx::PgPool;
use tokio_util::sync::CancellationToken;

use crate::proxy::TcpProxy;
use crate::{NatsServer, TestDatabase, fresh_database, readyz_until};

/// Serves `router` on a free loopback port until `shutdown`; returns the base URL.
pub async fn serve(router: axum::Router, shutdown: &CancellationToken) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("binding a loopback port");
    let base = format!("http://{}", listener.local_addr().expect("local address"));
    let stop = shutdown.clone();
    tokio::spawn(async move {
        axum::serve(listener, router)
            .with_graceful_shutdown(async move { stop.cancelled().await })
            .await
            .expect("serving the router");
    });
    base
}

/// A router served on a free port, with a client for it. Dropping it stops the server.
pub struct Served {
    pub base: String,
    pub http: reqwest::Client,
    pub shutdown: CancellationToken,
}

impl Drop for Served {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

impl Served {
    /// Serves `router` until `shutdown` (or until this is dropped).
    pub async fn start(router: axum::Router, shutdown: CancellationToken) -> Self {
        let base = serve(router, &shutdown).await;
        Self {
            base,
            http: orderflow_runtime::http::client(),
            shutdown,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// A request with a bearer token and an optional JSON body.
    pub async fn send(
        &self,
        method: Method,
        token: &str,
        path: &str,
        body: Option<Value>,
    ) -> reqwest::Response {
        self.send_with(method, token, path, &[], body).await
    }

    /// POST with a bearer token, these headers (`If-Match`, `Idempotency-Key`, ...) and an
    /// optional JSON body.
    pub async fn post_with(
        &self,
        token: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<Value>,
    ) -> reqwest::Response {
        self.send_with(Method::POST, token, path, headers, body)
            .await
    }

    async fn send_with(
        &self,
        method: Method,
        token: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<Value>,
    ) -> reqwest::Response {
        let mut request = self.http.request(method, self.url(path)).bearer_auth(token);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        request.send().await.expect("the service answers")
    }

    pub async fn get(&self, token: &str, path: &str) -> reqwest::Response {
        self.send(Method::GET, token, path, None).await
    }

    /// GET without a token.
    pub async fn get_anonymous(&self, path: &str) -> reqwest::Response {
        let request = self.http.get(self.url(path));
        request.send().await.expect("the service answers")
    }

    /// GET and the answer's JSON body.
    pub async fn get_json(&self, token: &str, path: &str) -> Value {
        self.get(token, path)
            .await
            .json()
            .await
            .expect("a JSON body")
    }

    /// POST with a JSON body (`json!(..)`) or none (`None`).
    pub async fn post(
        &self,
        token: &str,
        path: &str,
        body: impl Into<Option<Value>>,
    ) -> reqwest::Response {
        self.send(Method::POST, token, path, body.into()).await
    }

    pub async fn patch(&self, token: &str, path: &str, body: Value) -> reqwest::Response {
        self.send(Method::PATCH, token, path, Some(body)).await
    }

    /// POST of a raw body, with a content type or none.
    pub async fn post_raw(
        &self,
        token: &str,
        path: &str,
        content_type: Option<&str>,
        body: &'static str,
    ) -> reqwest::Response {
        let mut request = self.http.post(self.url(path)).bearer_auth(token);
        if let Some(content_type) = content_type {
            request = request.header("content-type", content_type);
        }
        request
            .body(body)
            .send()
            .await
            .expect("the service answers")
    }

    /// GET without a token; the body as text.
    pub async fn text(&self, path: &str) -> String {
        let response = self.get_anonymous(path).await;
        response.text().await.expect("a text body")
    }

    /// The service's `/metrics` page.
    pub async fn metrics(&self) -> String {
        self.text("/metrics").await
    }

    /// [`readyz_until`] on this service, each answer within 100 ms.
    pub async fn readyz_until(&self, done: impl Fn(StatusCode, &Value) -> bool) -> Duration {
        readyz_until(
            &self.http,
            &self.url("/readyz"),
            Duration::from_millis(100),
            done,
        )
        .await
    }

    /// Waits until `/readyz` says ready with nothing degraded.
    pub async fn ready_and_whole(&self) {
        self.readyz_until(|s, body| s == StatusCode::OK && body["degraded"] == json!([]))
            .await;
    }
}

/// How a test starts one service in process, for [`spawn`]: connect to a database and NATS,
/// create its streams, and hand out its router, background tasks and pool.
pub trait Service {
    type App;

    /// Connects the service to `db` and `nats_url`, with its streams created.
    fn connect(db: &TestDatabase, nats_url: &str) -> impl Future<Output = Self::App>;
    fn router(app: &Self::App) -> axum::Router;
    /// Starts the relay and consumers until `shutdown`.
    fn spawn_background(app: &Self::App, shutdown: &CancellationToken);
    fn pool(app: &Self::App) -> PgPool;
}

/// What [`test_app!`](crate::test_app) expands to refers to these.
#[doc(hidden)]
pub mod reexport {
    pub use {axum, sqlx, tokio_util};
}

/// Declares a service's test handle: `pub struct $name(Spawned<$app>)` (deref and deref-mut
/// to [`Spawned`]), a [`Service`] that connects the app with `$connect` (given `&TestDatabase`
/// and the NATS URL; it also creates the streams), and `spawn_app()` / `spawn_app_with(Options)`.
/// The app needs `router()`, `spawn_background(&CancellationToken)` and a `pool` field.
/// `services/orders/tests/it/support/mod.rs` shows it in use:
///
/// ```text
/// orderflow_test_support::test_app!(TestApp, OrdersApp, |db, nats_url| async move {
///     let app = OrdersApp::connect(config(db, nats_url)).await.unwrap();
///     ensure_streams(&app.jetstream(), &StreamSettings::default()).await.unwrap();
///     app
/// });
/// ```
#[macro_export]
macro_rules! test_app {
    ($name:ident, $app:ty, |$db:ident, $nats_url:ident| $connect:expr) => {
        /// A running service and its infrastructure: [`Spawned`]'s `app`, `pool`, `nats`, `db`,
        /// and through it `Served`'s `url`, `http`, `get`, `post`, `readyz_until`, ...
        ///
        /// [`Spawned`]: $crate::service::Spawned
        pub struct $name(pub $crate::service::Spawned<$app>);

        impl ::std::ops::Deref for $name {
            type Target = $crate::service::Spawned<$app>;

            fn deref(&self) -> &Self::Target {
                &self.0
            }
        }

        impl ::std::ops::DerefMut for $name {
            fn deref_mut(&mut self) -> &mut Self::Target {
                &mut self.0
            }
        }

        /// How `spawn` starts this service.
        pub struct ThisService;

        impl $crate::service::Service for ThisService {
            type App = $app;

            async fn connect($db: &$crate::TestDatabase, $nats_url: &str) -> $app {
                $connect.await
            }

            fn router(app: &$app) -> $crate::service::reexport::axum::Router {
                app.router()
            }

            fn spawn_background(
                app: &$app,
                shutdown: &$crate::service::reexport::tokio_util::sync::CancellationToken,
            ) {
                app.spawn_background(shutdown);
            }

            fn pool(app: &$app) -> $crate::service::reexport::sqlx::PgPool {
                app.pool.clone()
            }
        }

        /// Everything running: a fresh database, a nats-server, the HTTP server, relay and
        /// consumer.
        pub async fn spawn_app() -> $name {
            spawn_app_with($crate::service::Options::default()).await
        }

        /// The service started as `options` say (idle, behind a proxy, alone, ...).
        pub async fn spawn_app_with(options: $crate::service::Options) -> $name {
            $name($crate::service::spawn::<ThisService>(options).await)
        }
    };
}

/// What [`spawn`] starts.
#[derive(Default)]
pub struct Options {
    /// No relay or consumer runs; the test drives them by hand.
    pub idle: bool,
    /// This database instead of a fresh one on the shared server.
    pub database: Option<TestDatabase>,
    /// The service reaches its database through a [`TcpProxy`] ([`Spawned::proxy`]), so the
    /// test can take the database away while the service runs.
    pub behind_proxy: bool,
    /// No other service runs in the process meanwhile (see [`metrics_gate`]).
    pub alone: bool,
}

impl Options {
    /// No relay or consumer: the test drives them by hand.
    pub fn idle() -> Self {
        Self {
            idle: true,
            ..Self::default()
        }
    }

    /// Everything running, the database behind a proxy.
    pub fn behind_proxy() -> Self {
        Self {
            behind_proxy: true,
            ..Self::default()
        }
    }

    /// Everything running on `database` (e.g. on a server the test stops).
    pub fn on(database: TestDatabase) -> Self {
        Self {
            database: Some(database),
            ..Self::default()
        }
    }

    /// And no other service in the process meanwhile.
    pub fn alone(self) -> Self {
        Self {
            alone: true,
            ..self
        }
    }
}

/// A service running in process on its own nats-server and database, served on a free port;
/// derefs to its HTTP side ([`Served`]). Dropping it stops the service and its servers.
pub struct Spawned<A> {
    pub web: Served,
    pub app: A,
    pub pool: PgPool,
    pub nats: NatsServer,
    pub db: TestDatabase,
    pub proxy: Option<TcpProxy>,
    _gate: MetricsGate,
}

impl<A> Deref for Spawned<A> {
    type Target = Served;

    fn deref(&self) -> &Served {
        &self.web
    }
}

impl<A> Spawned<A> {
    /// The proxy in front of the database ([`Options::behind_proxy`]).
    pub fn postgres_proxy(&self) -> &TcpProxy {
        self.proxy
            .as_ref()
            .expect("started with Options::behind_proxy")
    }
}

/// Starts the service `S`: a nats-server, a fresh database (or the one in `options`), the app
/// with its streams, its background tasks unless `idle`, and its router on a free port.
pub async fn spawn<S: Service>(options: Options) -> Spawned<S::App> {
    let gate = metrics_gate(options.alone).await;
    let nats = NatsServer::start().await;
    let db = match options.database {
        Some(db) => db,
        None => fresh_database().await,
    };
    let (db, proxy) = if options.behind_proxy {
        let (proxied, proxy) = db.behind_proxy().await;
        (proxied, Some(proxy))
    } else {
        (db, None)
    };
    let app = S::connect(&db, &nats.url()).await;
    let shutdown = CancellationToken::new();
    if !options.idle {
        S::spawn_background(&app, &shutdown);
    }
    Spawned {
        web: Served::start(S::router(&app), shutdown).await,
        pool: S::pool(&app),
        app,
        nats,
        db,
        proxy,
        _gate: gate,
    }
}

/// Asserts `response` is a problem document (RFC 9457) with this status and code; returns it.
pub async fn problem(response: reqwest::Response, status: StatusCode, code: &str) -> Value {
    assert_eq!(response.status(), status);
    assert_eq!(
        response.headers()["content-type"].to_str().unwrap(),
        "application/problem+json"
    );
    let body: Value = response.json().await.expect("a JSON problem");
    assert_eq!(body["code"], code, "{body}");
    assert_eq!(body["status"], status.as_u16());
    body
}

/// Sends `request` and asserts its answer is the fast (under 1 s) `503 database_unavailable`
/// with `Retry-After: 2` that a service gives while PostgreSQL is away.
pub async fn assert_database_unavailable(request: impl Future<Output = reqwest::Response>) {
    let asked = Instant::now();
    let response = request.await;
    let took = asked.elapsed();
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(took < Duration::from_secs(1), "took {took:?}");
    assert_eq!(
        response.headers()["content-type"],
        "application/problem+json"
    );
    assert_eq!(response.headers()["retry-after"], "2");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["code"], "database_unavailable");
    assert_eq!(body["status"], 503);
}

/// Asserts `/healthz` and `/metrics` answer 200 and `/readyz` reports PostgreSQL and NATS ok;
/// returns `/readyz`'s status and the OpenAPI document from `/api/openapi.json`.
pub async fn operational_endpoints(served: &Served) -> (StatusCode, Value) {
    let health = served.get_anonymous("/healthz").await;
    assert_eq!(health.status(), StatusCode::OK);
    let ready = served.get_anonymous("/readyz").await;
    let ready_status = ready.status();
    let body: Value = ready.json().await.unwrap();
    assert_eq!(body["checks"]["postgres"], "ok");
    assert_eq!(body["checks"]["nats"], "ok");
    let metrics = served.get_anonymous("/metrics").await;
    assert_eq!(metrics.status(), StatusCode::OK);
    let doc = served.text("/api/openapi.json").await;
    (
        ready_status,
        serde_json::from_str(&doc).expect("an OpenAPI document"),
    )
}

/// The first half of a NATS outage: kills the service's nats-server and waits until the service's `/readyz` says
/// `degraded: ["nats"]` (and whatever `also` adds), asserting on every answer that the outage
/// never makes `service` unready.
pub async fn nats_goes_away<A>(
    spawned: &mut Spawned<A>,
    service: &str,
    also: impl Fn(&Value) -> bool,
) {
    spawned.web.ready_and_whole().await;
    spawned.nats.kill();
    spawned
        .web
        .readyz_until(|s, body| {
            assert_eq!(
                s,
                StatusCode::OK,
                "a NATS outage never makes {service} unready: {body}"
            );
            body["degraded"] == json!(["nats"]) && also(body)
        })
        .await;
}

/// During a NATS outage: asserts `/metrics` exports `dependency_up{dependency="nats"} 0`.
/// The gauge is process-wide: hold [`metrics_gate`]`(true)` from before the service started.
pub async fn assert_nats_down_in_metrics(served: &Served) {
    let metrics = served.metrics().await;
    assert!(
        metrics.contains("dependency_up{dependency=\"nats\"} 0"),
        "{metrics}"
    );
}

/// The second half of a NATS outage: restarts the nats-server and waits until `/readyz` is whole again.
pub async fn nats_comes_back<A>(spawned: &mut Spawned<A>) {
    spawned.nats.restart().await;
    spawned.web.ready_and_whole().await;
}

/// Waits until the transactional outbox in `pool`'s database is empty: the relay has published
/// (and deleted) every event written so far, so it publishes nothing more until the next write.
pub async fn outbox_drained(pool: &sqlx::PgPool) {
    crate::eventually("the outbox to drain", || async {
        let pending: i64 = sqlx::query_scalar("SELECT count(*) FROM outbox")
            .fetch_one(pool)
            .await
            .expect("counting the outbox");
        (pending == 0).then_some(())
    })
    .await;
}

/// Who may run a service now, for tests that assert process-wide metrics: every in-process
/// service holds a shared gate ([`metrics_gate`]`(false)`) while it runs, and a test that reads
/// a gauge others would write too holds the exclusive one, so no other service runs meanwhile.
/// A shared gate never waits for a waiting exclusive one, so a test may hold two.
pub struct MetricsGate {
    exclusive: bool,
}

static GATE: Mutex<(usize, bool)> = Mutex::new((0, false));

/// Waits for the gate: shared (`exclusive = false`) while no test holds it exclusively,
/// exclusive once no one holds it at all.
pub async fn metrics_gate(exclusive: bool) -> MetricsGate {
    loop {
        {
            let mut gate = GATE.lock().unwrap_or_else(|e| e.into_inner());
            let (shared, held_exclusively) = &mut *gate;
            if !*held_exclusively && (!exclusive || *shared == 0) {
                if exclusive {
                    *held_exclusively = true;
                } else {
                    *shared += 1;
                }
                return MetricsGate { exclusive };
            }
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

impl Drop for MetricsGate {
    fn drop(&mut self) {
        let mut gate = GATE.lock().unwrap_or_else(|e| e.into_inner());
        if self.exclusive {
            gate.1 = false;
        } else {
            gate.0 -= 1;
        }
    }
}
