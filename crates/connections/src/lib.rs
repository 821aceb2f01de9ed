//! PostgreSQL connections kept between uses, for the paths that run hundreds of short uses a
//! second: request handlers, event consumers and the outbox relay.
//!
//! sqlx's pool pings every connection that goes back to it. That is one more round trip per use;
//! without it an order transition took 13% less of the machine's CPU in the saturated benchmark
//! (measured in 18 alternating pairs of `xtask bench orders`, 2026-12-03; commit 621bf6c). The ping also has no timeout: if PostgreSQL goes
//! silent, each release waits for TCP to give up while it holds its pool slot, and the pool runs
//! dry for as long as TCP retries (transact-rs/sqlx#4349).
//!
//! [`Connections`] keeps connections without that ping. Whoever holds one says when it is fit
//! for the next user: [`Kept::release`], once every query on it has finished and its transaction
//! has ended ([`Connections::transaction`] does this itself). A connection dropped without that
//! (a cancelled request, an error midway) is closed instead, so nothing it left half done reaches
//! the next user. The server rolls back whatever that connection had open.

use std::ops::{Deref, DerefMut};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use sqlx::postgres::PgConnectOptions;
use sqlx::{Connection, PgConnection, PgPool};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// How long a connection may sit unused before it is pinged before use (a restart or a firewall
/// may have cut it meanwhile). The services' sqlx pools follow the same rule.
pub const PING_WHEN_IDLE_FOR: Duration = Duration::from_secs(10);

/// At most a fixed number of connections, opened when needed and kept after a clean use.
#[derive(Debug, Clone)]
pub struct Connections {
    shared: Arc<Shared>,
}

#[derive(Debug)]
struct Shared {
    options: PgConnectOptions,
    acquire_timeout: Duration,
    /// A connection this old is closed rather than kept, so that the server's per-backend
    /// caches do not grow forever and a moved server is found again.
    max_lifetime: Option<Duration>,
    /// A connection unused this long is closed, so that a burst's extra connections go away.
    idle_timeout: Option<Duration>,
    /// One per connection open or being opened, so there are never more than the bound.
    permits: Arc<Semaphore>,
    /// Last released on top: the connections in use stay warm, the rest age and get pinged.
    idle: Mutex<Vec<Idle>>,
}

#[derive(Debug)]
struct Idle {
    conn: PgConnection,
    opened: Instant,
    since: Instant,
}

impl Connections {
    /// At most `max` connections, opened with `pool`'s connect options and kept no longer than
    /// its connections (its maximum lifetime and idle timeout). Like a checkout from `pool`,
    /// [`acquire`](Self::acquire) gives up after the pool's acquire timeout.
    ///
    /// Must be called within a Tokio runtime: a task closes kept connections once they are past
    /// their time, checking every half of the shorter of the two limits, so that a service
    /// that has gone quiet does not hold its connections open. The task ends when the last
    /// clone of these `Connections` is dropped.
    pub fn like(pool: &PgPool, max: usize) -> Self {
        let settings = pool.options();
        let shared = Arc::new(Shared {
            options: (*pool.connect_options()).clone(),
            acquire_timeout: settings.get_acquire_timeout(),
            max_lifetime: settings.get_max_lifetime(),
            idle_timeout: settings.get_idle_timeout(),
            permits: Arc::new(Semaphore::new(max)),
            idle: Mutex::new(Vec::with_capacity(max)),
        });
        let limits = [shared.max_lifetime, shared.idle_timeout];
        if let Some(shorter) = limits.into_iter().flatten().min() {
            // A zero limit keeps nothing, but a zero period would make the interval panic.
            let period = (shorter / 2).max(Duration::from_millis(1));
            tokio::spawn(close_outlived(Arc::downgrade(&shared), period));
        }
        Self { shared }
    }

    /// A connection outside any transaction: the last one released if there is one, else a
    /// new one. Fails with [`sqlx::Error::PoolTimedOut`] when none is free, reachable and
    /// answering within the acquire timeout: an unreachable server, or a connection cut without
    /// a word, must not hold the caller for as long as TCP keeps trying.
    pub async fn acquire(&self) -> Result<Kept, sqlx::Error> {
        let deadline = tokio::time::Instant::now() + self.shared.acquire_timeout;
        let permit = tokio::time::timeout_at(deadline, self.shared.permits.clone().acquire_owned())
            .await
            .map_err(|_| sqlx::Error::PoolTimedOut)?
            .expect("the semaphore is never closed");
        let (conn, opened) = tokio::time::timeout_at(deadline, self.reuse_or_open())
            .await
            .map_err(|_| sqlx::Error::PoolTimedOut)??;
        Ok(Kept {
            conn: Some(conn),
            opened,
            shared: Arc::clone(&self.shared),
            _permit: permit,
        })
    }

    /// Runs `work` in a transaction on a connection of these: commits if it returns `Ok`, rolls
    /// back if it returns `Err`. Either way the connection is kept, since that last round trip
    /// just proved it sound; if the commit or the rollback fails, it is closed.
    pub async fn transaction<T, E>(
        &self,
        work: impl AsyncFnOnce(&mut PgConnection) -> Result<T, E>,
    ) -> Result<T, E>
    where
        E: From<sqlx::Error>,
    {
        let mut conn = self.acquire().await?;
        let mut tx = conn.begin().await?;
        let outcome = work(&mut tx).await;
        match &outcome {
            Ok(_) => tx.commit().await?,
            Err(_) => tx.rollback().await?,
        }
        conn.release();
        outcome
    }

    /// A kept connection, or a new one; with the time it was opened.
    async fn reuse_or_open(&self) -> Result<(PgConnection, Instant), sqlx::Error> {
        loop {
            let idle = self.shared.idle.lock().expect("never poisoned").pop();
            let Some(Idle {
                mut conn,
                opened,
                since,
            }) = idle
            else {
                let conn = PgConnection::connect_with(&self.shared.options).await?;
                return Ok((conn, Instant::now()));
            };
            // One that is past its time or failed its ping is dropped, which closes it.
            if self.shared.outlived(opened, since) {
                continue;
            }
            if since.elapsed() < PING_WHEN_IDLE_FOR || conn.ping().await.is_ok() {
                return Ok((conn, opened));
            }
        }
    }
}

/// Every `period`, closes the kept connections that are past their time, until `shared` is
/// gone.
async fn close_outlived(shared: Weak<Shared>, period: Duration) {
    let mut ticks = tokio::time::interval(period);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        let Some(shared) = shared.upgrade() else {
            return;
        };
        // Dropped, which closes them, after the lock is released.
        let outlived: Vec<Idle> = {
            let mut idle = shared.idle.lock().expect("never poisoned");
            let (outlived, kept) = std::mem::take(&mut *idle)
                .into_iter()
                .partition(|i| shared.outlived(i.opened, i.since));
            *idle = kept;
            outlived
        };
        drop(outlived);
    }
}

impl Shared {
    /// Whether a connection opened at `opened` and unused since `since` is past its time.
    fn outlived(&self, opened: Instant, since: Instant) -> bool {
        self.max_lifetime.is_some_and(|l| opened.elapsed() >= l)
            || self.idle_timeout.is_some_and(|t| since.elapsed() >= t)
    }
}

/// A connection taken from [`Connections`]; use it as a `PgConnection`. Dropping it closes it,
/// [`release`](Self::release) keeps it for the next user.
#[derive(Debug)]
pub struct Kept {
    conn: Option<PgConnection>,
    opened: Instant,
    shared: Arc<Shared>,
    /// Returned after `conn` is kept or closed.
    _permit: OwnedSemaphorePermit,
}

impl Kept {
    /// Keeps the connection for the next user, without a round trip. Call it once every query
    /// started on it has finished and its transaction, if any, has been committed or rolled back.
    /// A connection still in a transaction, or holding a rollback that was queued but never sent
    /// (a `Transaction` dropped unfinished), is closed instead, which ends the transaction; so
    /// is one past its lifetime.
    pub fn release(mut self) {
        let conn = self.conn.take().expect("present until released");
        let now = Instant::now();
        // `should_flush` is sqlx's own test for a queued message, such as that rollback; it is
        // hidden from its docs but public, and sqlx is pinned once in the workspace.
        let keep = !(conn.is_in_transaction()
            || conn.should_flush()
            || self.shared.outlived(self.opened, now));
        if keep {
            let mut idle = self.shared.idle.lock().expect("never poisoned");
            idle.push(Idle {
                conn,
                opened: self.opened,
                since: now,
            });
        }
    }
}

impl Deref for Kept {
    type Target = PgConnection;

    fn deref(&self) -> &PgConnection {
        self.conn.as_ref().expect("present until released")
    }
}

impl DerefMut for Kept {
    fn deref_mut(&mut self) -> &mut PgConnection {
        self.conn.as_mut().expect("present until released")
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use sqlx::postgres::PgPoolOptions;

    use super::{Connections, PING_WHEN_IDLE_FOR};

    const MINUTE: Duration = Duration::from_secs(60);

    async fn connections(max: usize) -> Connections {
        let db = orderflow_test_support::fresh_database().await;
        let pool = PgPoolOptions::new()
            .max_lifetime(MINUTE)
            .idle_timeout(MINUTE)
            .connect_lazy_with(db.connect_options());
        Connections::like(&pool, max)
    }

    fn kept(connections: &Connections) -> usize {
        connections.shared.idle.lock().unwrap().len()
    }

    #[tokio::test]
    async fn a_connection_past_its_lifetime_is_closed_not_kept() {
        let connections = connections(1).await;
        let mut conn = connections.acquire().await.unwrap();
        conn.opened -= 2 * MINUTE;
        conn.release();
        assert_eq!(kept(&connections), 0);
    }

    #[tokio::test]
    async fn a_kept_connection_cut_while_idle_is_replaced() {
        let pool = orderflow_test_support::fresh_database().await.pool().await;
        let connections = Connections::like(&pool, 1);
        let mut conn = connections.acquire().await.unwrap();
        let pid: i32 = sqlx::query_scalar("SELECT pg_backend_pid()")
            .fetch_one(&mut *conn)
            .await
            .unwrap();
        conn.release();
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
        connections.shared.idle.lock().unwrap()[0].since = Instant::now() - PING_WHEN_IDLE_FOR * 2;

        let mut conn = connections.acquire().await.unwrap();
        let new_pid: i32 = sqlx::query_scalar("SELECT pg_backend_pid()")
            .fetch_one(&mut *conn)
            .await
            .unwrap();
        assert_ne!(new_pid, pid, "a fresh connection");
    }
}
