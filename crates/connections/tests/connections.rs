//! Kept connections against a real PostgreSQL: kept after a clean use, closed after anything
//! else or once unused past the idle timeout, bounded, and never waiting longer than the
//! acquire timeout.

use std::time::{Duration, Instant};

use orderflow_connections::{Connections, Kept};
use orderflow_test_support::fresh_database;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{Connection, PgConnection, PgPool};

const ACQUIRE_TIMEOUT: Duration = Duration::from_millis(500);

/// At most `max` connections to a fresh database with an empty table `written`, and a pool
/// to look at that database from the side.
async fn connections(max: usize) -> (Connections, PgPool) {
    let db = fresh_database().await;
    let pool = PgPoolOptions::new()
        .acquire_timeout(ACQUIRE_TIMEOUT)
        .connect_with(db.connect_options())
        .await
        .unwrap();
    sqlx::query("CREATE TABLE IF NOT EXISTS written (n int)")
        .execute(&pool)
        .await
        .unwrap();
    (Connections::like(&pool, max), pool)
}

async fn backend(conn: &mut Kept) -> i32 {
    sqlx::query_scalar("SELECT pg_backend_pid()")
        .fetch_one(&mut **conn)
        .await
        .unwrap()
}

async fn rows(pool: &PgPool) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM written")
        .fetch_one(pool)
        .await
        .unwrap()
}

/// Asserts that backend `closed` ended, that its transaction was rolled back, and that the
/// next connection is a new one.
async fn closed_and_rolled_back(connections: &Connections, pool: &PgPool, closed: i32) {
    ended(pool, closed).await;
    assert_eq!(rows(pool).await, 0, "rolled back");
    let mut conn = connections.acquire().await.unwrap();
    assert_ne!(backend(&mut conn).await, closed, "a new connection");
}

/// Waits until the server has ended backend `pid`, as it does once its client is gone.
async fn ended(pool: &PgPool, pid: i32) {
    let gone = async {
        while sqlx::query_scalar::<_, bool>(
            "SELECT EXISTS (SELECT FROM pg_stat_activity WHERE pid = $1)",
        )
        .bind(pid)
        .fetch_one(pool)
        .await
        .unwrap()
        {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    };
    tokio::time::timeout(Duration::from_secs(10), gone)
        .await
        .expect("the server ended the closed connection's backend");
}

#[tokio::test]
async fn a_released_connection_is_used_again() {
    let (connections, _pool) = connections(2).await;
    let mut conn = connections.acquire().await.unwrap();
    let first = backend(&mut conn).await;
    conn.release();
    let mut conn = connections.acquire().await.unwrap();
    assert_eq!(backend(&mut conn).await, first, "the same backend");
}

#[tokio::test]
async fn a_transaction_commits_on_ok_rolls_back_on_err_and_keeps_the_connection() {
    let (connections, pool) = connections(1).await;
    let insert = async |tx: &mut PgConnection, n: i32| {
        sqlx::query("INSERT INTO written VALUES ($1)")
            .bind(n)
            .execute(&mut *tx)
            .await?;
        sqlx::query_scalar::<_, i32>("SELECT pg_backend_pid()")
            .fetch_one(tx)
            .await
    };
    let first: Result<i32, sqlx::Error> = connections
        .transaction(async |tx| insert(tx, 1).await)
        .await;
    let first = first.unwrap();
    let refused: Result<(), Refused> = connections
        .transaction(async |tx| {
            let pid = insert(tx, 2).await?;
            Err(Refused::Because(pid))
        })
        .await;
    let Err(Refused::Because(second)) = refused else {
        panic!("the work's own error comes back: {refused:?}")
    };
    assert_eq!(second, first, "kept after the commit");
    let mut conn = connections.acquire().await.unwrap();
    assert_eq!(backend(&mut conn).await, first, "kept after the rollback");
    let kept: Vec<i32> = sqlx::query_scalar("SELECT n FROM written")
        .fetch_all(&pool)
        .await
        .unwrap();
    assert_eq!(kept, [1], "the refused work was rolled back");
}

#[derive(Debug)]
enum Refused {
    Because(i32),
    Database(#[expect(dead_code, reason = "shown by Debug when the test fails")] sqlx::Error),
}

impl From<sqlx::Error> for Refused {
    fn from(e: sqlx::Error) -> Self {
        Self::Database(e)
    }
}

#[tokio::test]
async fn a_transaction_dropped_unfinished_closes_the_connection_and_rolls_back() {
    let (connections, pool) = connections(1).await;
    let mut conn = connections.acquire().await.unwrap();
    let first = backend(&mut conn).await;
    let mut tx = conn.begin().await.unwrap();
    sqlx::query("INSERT INTO written VALUES (1)")
        .execute(&mut *tx)
        .await
        .unwrap();
    // sqlx queues the rollback for the connection's next use; kept, the connection would hold
    // the transaction (and its locks) until then.
    drop(tx);
    conn.release();
    closed_and_rolled_back(&connections, &pool, first).await;
}

#[tokio::test]
async fn a_connection_dropped_midway_is_closed_and_its_transaction_rolled_back() {
    let (connections, pool) = connections(1).await;
    let mut conn = connections.acquire().await.unwrap();
    let first = backend(&mut conn).await;
    // Begun in raw SQL, as the relay does: sqlx does not know a transaction is open.
    sqlx::raw_sql("BEGIN; INSERT INTO written VALUES (1)")
        .execute(&mut *conn)
        .await
        .unwrap();
    drop(conn);
    closed_and_rolled_back(&connections, &pool, first).await;
}

#[tokio::test]
async fn a_query_cancelled_midway_does_not_reach_the_next_user() {
    let (connections, _pool) = connections(1).await;
    let mut conn = connections.acquire().await.unwrap();
    let first = backend(&mut conn).await;
    let cancelled = tokio::time::timeout(
        Duration::from_millis(100),
        sqlx::query_scalar::<_, i32>("SELECT 7 FROM pg_sleep(1)").fetch_one(&mut *conn),
    )
    .await;
    assert!(cancelled.is_err(), "cancelled before its answer");
    drop(conn);
    // With a bound of one, this also shows the cancelled holder's slot came back.
    let mut conn = connections.acquire().await.unwrap();
    assert_ne!(backend(&mut conn).await, first, "a new connection");
    let answer: i32 = sqlx::query_scalar("SELECT 8")
        .fetch_one(&mut *conn)
        .await
        .unwrap();
    assert_eq!(answer, 8, "no reply left over from the cancelled query");
}

#[tokio::test]
async fn no_more_than_the_bound_are_open_and_a_waiter_gives_up_after_the_timeout() {
    let (connections, _pool) = connections(1).await;
    let held = connections.acquire().await.unwrap();
    let started = Instant::now();
    let waited = connections.acquire().await;
    assert!(
        matches!(waited, Err(sqlx::Error::PoolTimedOut)),
        "timed out: {waited:?}"
    );
    assert!(started.elapsed() >= ACQUIRE_TIMEOUT);
    assert!(started.elapsed() < ACQUIRE_TIMEOUT * 4);
    held.release();
    connections.acquire().await.expect("free again");
}

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
        .acquire_timeout(ACQUIRE_TIMEOUT)
        .connect_lazy_with(options);
    let taken = tokio::time::timeout(
        Duration::from_secs(10),
        Connections::like(&pool, 1).acquire(),
    )
    .await
    .expect("gave up within the acquire timeout, not after TCP's");
    assert!(
        matches!(taken, Err(sqlx::Error::PoolTimedOut)),
        "timed out: {taken:?}"
    );
}

#[tokio::test]
async fn connections_left_unused_past_the_idle_timeout_are_closed() {
    let db = fresh_database().await;
    let pool = PgPoolOptions::new()
        .idle_timeout(Duration::from_millis(200))
        .connect_with(db.connect_options())
        .await
        .unwrap();
    let connections = Connections::like(&pool, 2);
    let mut first = connections.acquire().await.unwrap();
    let mut second = connections.acquire().await.unwrap();
    let backends = [backend(&mut first).await, backend(&mut second).await];
    first.release();
    second.release();
    // Nothing uses them again, yet they go.
    for pid in backends {
        ended(&pool, pid).await;
    }
}
