//! PostgreSQL: per-test databases are isolated; a durable cluster keeps its data across restarts.

use std::time::Instant;

use orderflow_test_support::{PgCluster, fresh_database};

/// Runs one statement, which must succeed.
async fn execute<'c, E: sqlx::PgExecutor<'c>>(executor: E, sql: &'static str) {
    sqlx::query(sql).execute(executor).await.unwrap();
}

#[tokio::test]
async fn fresh_databases_are_isolated() {
    let started = Instant::now();
    let a = fresh_database().await;
    eprintln!(
        "first fresh_database (includes cluster start) in {:?}",
        started.elapsed()
    );
    let started = Instant::now();
    let b = fresh_database().await;
    eprintln!("second fresh_database in {:?}", started.elapsed());
    assert_ne!(a.name, b.name);
    assert!(a.url.ends_with(&a.name));

    let pool_a = a.pool().await;
    let pool_b = b.pool().await;
    execute(&pool_a, "CREATE TABLE items (id int PRIMARY KEY)").await;
    execute(&pool_a, "INSERT INTO items VALUES (1), (2)").await;

    let (count,): (i64,) = sqlx::query_as("SELECT count(*) FROM items")
        .fetch_one(&pool_a)
        .await
        .unwrap();
    assert_eq!(count, 2);
    let missing = sqlx::query("SELECT 1 FROM items").fetch_all(&pool_b).await;
    assert!(missing.is_err(), "database b must not see a's table");

    let (current,): (String,) = sqlx::query_as("SELECT current_database()")
        .fetch_one(&pool_b)
        .await
        .unwrap();
    assert_eq!(current, b.name);
}

#[test]
fn durable_cluster_keeps_data_across_restarts() {
    let dir = tempfile::tempdir().unwrap();
    let base = dir.path().join("pg");
    let runtime = tokio::runtime::Runtime::new().unwrap();

    let started = Instant::now();
    let cluster = PgCluster::start_in(&base, None).unwrap();
    eprintln!("initdb + start (durable) in {:?}", started.elapsed());
    let url = cluster.url();
    runtime.block_on(async {
        let pool = sqlx::PgPool::connect(&url).await.unwrap();
        execute(&pool, "CREATE TABLE kept (v text)").await;
        execute(&pool, "INSERT INTO kept VALUES ('still here')").await;
        pool.close().await;
    });
    let port = cluster.port();
    let started = Instant::now();
    cluster.stop();
    eprintln!("stop in {:?}", started.elapsed());
    // A single connection, not a pool: a pool would keep retrying until its timeout.
    assert!(
        runtime
            .block_on(<sqlx::PgConnection as sqlx::Connection>::connect(&url))
            .is_err(),
        "a stopped cluster must refuse connections"
    );

    let started = Instant::now();
    let mut cluster = PgCluster::start_in(&base, Some(port)).unwrap();
    eprintln!("restart of existing cluster in {:?}", started.elapsed());
    assert!(cluster.is_running());
    assert_eq!(cluster.url(), url);
    let value: String = runtime.block_on(async {
        let pool = sqlx::PgPool::connect(&url).await.unwrap();
        sqlx::query_scalar("SELECT v FROM kept")
            .fetch_one(&pool)
            .await
            .unwrap()
    });
    assert_eq!(value, "still here");
}

#[test]
fn a_temporary_cluster_stopped_in_place_starts_again_with_its_data() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let mut cluster = PgCluster::start_temporary().unwrap();
    let url = cluster.url();
    let connect = || runtime.block_on(<sqlx::PgConnection as sqlx::Connection>::connect(&url));
    let mut conn = connect().unwrap();
    runtime.block_on(async {
        execute(&mut conn, "CREATE TABLE kept (v text)").await;
        execute(&mut conn, "INSERT INTO kept VALUES ('still here')").await;
    });

    let started = Instant::now();
    cluster.stop_in_place();
    eprintln!("stop in place in {:?}", started.elapsed());
    assert!(!cluster.is_running());
    assert!(connect().is_err(), "a stopped cluster refuses connections");
    // The open session was ended by the shutdown.
    let dead = runtime.block_on(sqlx::query("SELECT 1").execute(&mut conn));
    assert!(dead.is_err());

    let started = Instant::now();
    cluster.start_again().unwrap();
    eprintln!("start again in {:?}", started.elapsed());
    assert!(cluster.is_running());
    assert_eq!(cluster.url(), url, "same port");
    let mut conn = connect().unwrap();
    let value: String = runtime
        .block_on(sqlx::query_scalar("SELECT v FROM kept").fetch_one(&mut conn))
        .unwrap();
    assert_eq!(value, "still here");
}
