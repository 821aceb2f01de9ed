//! The REST services' PostgreSQL pool, made the same way in both, and its readiness check.

use std::sync::Arc;
use std::time::Duration;

use orderflow_connections::PING_WHEN_IDLE_FOR;
use orderflow_runtime::health::ReadinessCheck;
use sqlx::postgres::PgPoolOptions;
use sqlx::{Connection as _, PgPool};

/// The pool size a service needs besides its kept connections (`orderflow_connections`, for
/// requests, event consumers and the relay's batches): migrations, health checks and the relay's
/// listener.
pub const BACKGROUND_POOL: u32 = 4;

/// How long getting a database connection may take (waiting for a free one, connecting, the
/// ping of an idle one) before it fails with `PoolTimedOut`. Short, because a request that
/// cannot get one in time is better answered `503 database_unavailable` at once than held while
/// PostgreSQL is away: a client, or its load balancer, can retry elsewhere or later. Far above
/// what a healthy database needs: a new connection takes milliseconds, and a saturated pool
/// hands one over within a few transaction times (docs/benchmarks.md).
pub const ACQUIRE_TIMEOUT: Duration = Duration::from_millis(500);

/// A PostgreSQL pool of at most `max_connections`; waiting for a connection fails after
/// [`ACQUIRE_TIMEOUT`] so a saturated or unreachable database answers with an error instead of
/// hanging requests. Kept connections made `like` it (`orderflow_connections`) share that
/// timeout.
pub async fn pool(url: &str, max_connections: u32) -> Result<PgPool, sqlx::Error> {
    PgPoolOptions::new()
        .max_connections(max_connections)
        .acquire_timeout(ACQUIRE_TIMEOUT)
        // sqlx pings every connection it hands out by default: one more round trip per use. A
        // connection in steady use has just proven itself; only one that sat idle (where a
        // restart or a firewall may have cut it) is pinged, as kept connections are.
        .test_before_acquire(false)
        .before_acquire(|conn, meta| {
            Box::pin(async move {
                if meta.idle_for >= PING_WHEN_IDLE_FOR {
                    conn.ping().await?;
                }
                Ok(true)
            })
        })
        .connect(url)
        .await
}

/// Readiness of a PostgreSQL pool: a `SELECT 1` answers. An answer also ends the log of a
/// database outage ([`crate::outage::reachable`]).
pub fn readiness_check(pool: sqlx::PgPool) -> (&'static str, ReadinessCheck) {
    let check: ReadinessCheck = Arc::new(move || {
        let pool = pool.clone();
        Box::pin(async move {
            sqlx::query("SELECT 1")
                .execute(&pool)
                .await
                .map(|_| crate::outage::reachable())
                .map_err(|_| "unreachable".to_owned())
        })
    });
    ("postgres", check)
}
