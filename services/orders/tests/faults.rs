//! The orders service while PostgreSQL is away, on real servers: every request fails fast with
//! `503 database_unavailable` and `Retry-After`, `/readyz` answers at once and says unready,
//! and nothing half-done is left when the database returns. The database goes away two ways: a
//! proxy that resets every connection (a network cut), and a real PostgreSQL stopped and
//! started again (whose sessions end with "terminating connection due to administrator
//! command"). (NATS away: `degraded.rs`.)

mod support;

use std::time::{Duration, Instant};

use orderflow_test_support::readyz_until;
use orderflow_test_support::{PgCluster, SUPERUSER, TestDatabase};
use reqwest::StatusCode;
use serde_json::{Value, json};
use support::{Stack, customer};

async fn assert_unavailable(response: reqwest::Response, took: Duration) {
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

#[tokio::test]
async fn database_away_means_fast_503s_an_unready_service_and_nothing_half_done() {
    let (stack, postgres) = Stack::start_behind_proxy().await;
    stack.seed_product("KB-001", 4_999).await;
    let alice = customer("Alice");
    let order = stack.create_order(&alice.token, "KB-001", 1).await;
    let path = format!("/api/orders/{}", order["id"].as_str().unwrap());
    readyz_until(
        &stack.http,
        &stack.url("/readyz"),
        Duration::from_millis(100),
        |s, _| s == StatusCode::OK,
    )
    .await;

    // Every connection reset, new ones refused: as when PostgreSQL stops.
    postgres.cut();
    let requests = [
        (
            "/api/orders",
            Some(json!({ "lines": [{ "sku": "KB-001", "quantity": 1 }] })),
        ),
        (&*format!("{path}/confirm"), None),
    ];
    for (target, body) in requests {
        for _ in 0..3 {
            let asked = Instant::now();
            let response = stack.post(&alice.token, target, body.clone()).await;
            assert_unavailable(response, asked.elapsed()).await;
        }
    }
    let asked = Instant::now();
    let response = stack.get(&alice.token, &path).await;
    assert_unavailable(response, asked.elapsed()).await;

    // Readiness follows within a probe, and every answer is immediate meanwhile.
    let slowest = readyz_until(
        &stack.http,
        &stack.url("/readyz"),
        Duration::from_millis(100),
        |s, body| s == StatusCode::SERVICE_UNAVAILABLE && body["checks"]["postgres"] != "ok",
    )
    .await;
    println!("slowest /readyz while the database went away: {slowest:?}");

    postgres.restore();
    readyz_until(
        &stack.http,
        &stack.url("/readyz"),
        Duration::from_millis(100),
        |s, _| s == StatusCode::OK,
    )
    .await;
    let now: Value = stack.get(&alice.token, &path).await.json().await.unwrap();
    assert_eq!(
        now["status"], "Draft",
        "the failed confirms changed nothing"
    );
    assert_eq!(now["version"], 1);
    let confirmed = stack
        .post(&alice.token, &format!("{path}/confirm"), None)
        .await;
    assert_eq!(confirmed.status(), StatusCode::OK);
    let count: i64 = sqlx::query_scalar("SELECT count(*) FROM orders")
        .fetch_one(&stack.app.pool)
        .await
        .unwrap();
    assert_eq!(count, 1, "no order was created while the database was away");
}

#[tokio::test]
async fn a_postgres_restart_is_answered_503_and_then_served_again() {
    let cluster = tokio::task::spawn_blocking(PgCluster::start_temporary)
        .await
        .unwrap()
        .unwrap();
    let url = format!(
        "postgres://{SUPERUSER}@127.0.0.1:{}/postgres",
        cluster.port()
    );
    let stack = Stack::start_on_database(TestDatabase {
        url,
        name: "postgres".to_owned(),
    })
    .await;
    stack.seed_product("KB-001", 4_999).await;
    let alice = customer("Alice");
    let order = stack.create_order(&alice.token, "KB-001", 1).await;
    let path = format!("/api/orders/{}", order["id"].as_str().unwrap());

    let mut cluster = tokio::task::spawn_blocking(move || {
        let mut cluster = cluster;
        cluster.stop_in_place();
        cluster
    })
    .await
    .unwrap();
    // The first requests meet the connections the shutdown ended, later ones a refused connect.
    for _ in 0..5 {
        let asked = Instant::now();
        let response = stack
            .post(&alice.token, &format!("{path}/confirm"), None)
            .await;
        assert_unavailable(response, asked.elapsed()).await;
    }
    readyz_until(
        &stack.http,
        &stack.url("/readyz"),
        Duration::from_millis(100),
        |s, _| s == StatusCode::SERVICE_UNAVAILABLE,
    )
    .await;

    let cluster = tokio::task::spawn_blocking(move || {
        cluster.start_again().unwrap();
        cluster
    })
    .await
    .unwrap();
    readyz_until(
        &stack.http,
        &stack.url("/readyz"),
        Duration::from_millis(100),
        |s, _| s == StatusCode::OK,
    )
    .await;
    let confirmed = stack
        .post(&alice.token, &format!("{path}/confirm"), None)
        .await;
    assert_eq!(confirmed.status(), StatusCode::OK);
    assert_eq!(confirmed.json::<Value>().await.unwrap()["version"], 3);
    drop(stack);
    drop(cluster);
}
