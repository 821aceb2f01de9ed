//! Connecting to the two pieces of infrastructure every service uses, the same way everywhere.

use std::time::Duration;

use orderflow_connections::PING_WHEN_IDLE_FOR;
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
pub async fn postgres(url: &str, max_connections: u32) -> Result<PgPool, sqlx::Error> {
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

/// A NATS client named `name`. `urls` is one server or a comma-separated cluster list; the client
/// fails over between them. NATS being down does not fail start-up: the client keeps retrying.
pub async fn nats(urls: &str, name: &str) -> Result<async_nats::Client, async_nats::ConnectError> {
    async_nats::ConnectOptions::new()
        .name(name)
        .retry_on_initial_connect()
        .connect(urls.split(',').map(str::trim).collect::<Vec<_>>())
        .await
}
