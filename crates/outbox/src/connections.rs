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
const KEEP_AT_MOST: usize = 3;

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
        let kept = self.idle.lock().expect("never poisoned").pop();
        if let Some(Idle { mut conn, since }) = kept
            && (since.elapsed() < PING_WHEN_IDLE_FOR || conn.ping().await.is_ok())
        {
            return Ok(conn);
        }
        PgConnection::connect_with(&self.pool.connect_options()).await
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
