//! The relay's own PostgreSQL connections, kept between batches.
//!
//! sqlx pings every connection that goes back to its pool, one more round trip per batch, and a
//! relay at a steady rate ends hundreds of batches a second. So the relay opens the few
//! connections its overlapping batches use itself (with its pool's settings) and keeps them. A
//! connection is handed back only after its transaction ended; one whose batch failed or was
//! dropped midway is closed instead, which also rolls its transaction back.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use sqlx::{Connection, PgConnection, PgPool};

/// How long a kept connection may sit unused before it is pinged before use (a restart or a
/// firewall may have cut it meanwhile).
const PING_WHEN_IDLE_FOR: Duration = Duration::from_secs(10);

/// At most this many connections are kept: one per batch a relay overlaps.
const KEEP_AT_MOST: usize = crate::relay::BATCHES_AT_ONCE;

/// Connections opened with one pool's settings and reused batch after batch.
#[derive(Debug)]
pub(crate) struct Connections {
    pool: PgPool,
    idle: Mutex<Vec<Idle>>,
}

#[derive(Debug)]
struct Idle {
    conn: PgConnection,
    since: Instant,
}

impl Connections {
    pub(crate) fn new(pool: PgPool) -> Self {
        Self {
            pool,
            idle: Mutex::new(Vec::new()),
        }
    }

    /// A connection outside any transaction: a kept one if there is one, else a new one.
    pub(crate) async fn take(&self) -> Result<PgConnection, sqlx::Error> {
        // Bounded like a pool checkout: an unreachable server or a connection cut without a
        // word must not hold the relay for as long as TCP keeps trying.
        let limit = self.pool.options().get_acquire_timeout();
        let kept = self.idle.lock().expect("never poisoned").pop();
        if let Some(Idle { mut conn, since }) = kept
            && (since.elapsed() < PING_WHEN_IDLE_FOR
                || matches!(tokio::time::timeout(limit, conn.ping()).await, Ok(Ok(()))))
        {
            return Ok(conn);
        }
        let options = self.pool.connect_options();
        tokio::time::timeout(limit, PgConnection::connect_with(&options))
            .await
            .map_err(|_| {
                let timed_out = std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    "connecting to PostgreSQL timed out",
                );
                sqlx::Error::Io(timed_out)
            })?
    }

    /// Keeps `conn`, whose transaction has ended, for the next batch.
    pub(crate) fn put_back(&self, conn: PgConnection) {
        let mut idle = self.idle.lock().expect("never poisoned");
        if idle.len() < KEEP_AT_MOST {
            idle.push(Idle {
                conn,
                since: Instant::now(),
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
    use sqlx::{Connection, Executor};

    use super::{Connections, PING_WHEN_IDLE_FOR};

    #[tokio::test]
    async fn a_server_that_never_answers_times_out_like_a_pool_checkout() {
        // Accepts connections and never says a word.
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(async move {
            let mut held = Vec::new();
            while let Ok((socket, _)) = listener.accept().await {
                held.push(socket);
            }
        });
        let options = PgConnectOptions::new()
            .host("127.0.0.1")
            .port(port)
            .username("nobody");
        let pool = PgPoolOptions::new()
            .acquire_timeout(Duration::from_millis(300))
            .connect_lazy_with(options);
        let taken = tokio::time::timeout(Duration::from_secs(10), Connections::new(pool).take())
            .await
            .expect("gave up within the acquire timeout, not after TCP's");
        assert!(taken.is_err(), "no connection from a silent server");
    }

    #[tokio::test]
    async fn a_kept_connection_cut_while_idle_is_replaced() {
        let pool = orderflow_test_support::fresh_database().await.pool().await;
        let connections = Connections::new(pool.clone());
        let mut conn = connections.take().await.unwrap();
        let pid: i32 = sqlx::query_scalar("SELECT pg_backend_pid()")
            .fetch_one(&mut conn)
            .await
            .unwrap();
        connections.put_back(conn);
        sqlx::query("SELECT pg_terminate_backend($1)")
            .bind(pid)
            .execute(&pool)
            .await
            .unwrap();
        while sqlx::query_scalar::<_, bool>(
            "SELECT EXISTS (SELECT FROM pg_stat_activity WHERE pid = $1)",
        )
        .bind(pid)
        .fetch_one(&pool)
        .await
        .unwrap()
        {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        // As if it had sat unused long enough to be pinged before use.
        connections.idle.lock().unwrap()[0].since = Instant::now() - PING_WHEN_IDLE_FOR * 2;

        let mut conn = connections.take().await.unwrap();
        let new_pid: i32 = sqlx::query_scalar("SELECT pg_backend_pid()")
            .fetch_one(&mut conn)
            .await
            .unwrap();
        assert_ne!(new_pid, pid, "a fresh connection");
        conn.execute("SELECT 1").await.unwrap();
        conn.close().await.unwrap();
    }
}
