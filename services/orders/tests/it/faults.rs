//! The orders service while PostgreSQL is away, on real servers: every request fails fast with
//! `503 database_unavailable` and `Retry-After`, `/readyz` answers at once and says unready,
//! and nothing half-done is left when the database returns. The database goes away two ways: a
//! proxy that resets every connection (a network cut), and a real PostgreSQL stopped and
//! started again (whose sessions end with "terminating connection due to administrator
//! command"). (NATS away: `degraded.rs`.)

use orderflow_test_support::service::assert_database_unavailable;
use orderflow_test_support::{PgCluster, SUPERUSER, TestDatabase};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::support::{Options, customer, order_path, spawn_app_with};

#[tokio::test]
async fn database_away_means_fast_503s_an_unready_service_and_nothing_half_done() {
    let stack = spawn_app_with(Options::behind_proxy()).await;
    let postgres = stack.postgres_proxy();
    stack.seed_product("KB-001", 4_999).await;
    let alice = customer("Alice");
    let order = stack.create_order(&alice.token, "KB-001", 1).await;
    let path = order_path(&order);
    stack.readyz_until(|s, _| s == StatusCode::OK).await;

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
            assert_database_unavailable(stack.post(&alice.token, target, body.clone())).await;
        }
    }
    assert_database_unavailable(stack.get(&alice.token, &path)).await;

    // Readiness follows within a probe, and every answer is immediate meanwhile.
    let slowest = stack
        .readyz_until(|s, body| {
            s == StatusCode::SERVICE_UNAVAILABLE && body["checks"]["postgres"] != "ok"
        })
        .await;
    println!("slowest /readyz while the database went away: {slowest:?}");

    postgres.restore();
    stack.readyz_until(|s, _| s == StatusCode::OK).await;
    let now = stack.get_json(&alice.token, &path).await;
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
        .fetch_one(&stack.pool)
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
    let database = TestDatabase {
        url,
        name: "postgres".to_owned(),
    };
    let stack = spawn_app_with(Options::on(database)).await;
    stack.seed_product("KB-001", 4_999).await;
    let alice = customer("Alice");
    let order = stack.create_order(&alice.token, "KB-001", 1).await;
    let confirm = format!("/api/orders/{}/confirm", order["id"].as_str().unwrap());

    let mut cluster = tokio::task::spawn_blocking(move || {
        let mut cluster = cluster;
        cluster.stop_in_place();
        cluster
    })
    .await
    .unwrap();
    // The first requests meet the connections the shutdown ended, later ones a refused connect.
    for _ in 0..5 {
        assert_database_unavailable(stack.post(&alice.token, &confirm, None)).await;
    }
    stack
        .readyz_until(|s, _| s == StatusCode::SERVICE_UNAVAILABLE)
        .await;

    let cluster = tokio::task::spawn_blocking(move || {
        cluster.start_again().unwrap();
        cluster
    })
    .await
    .unwrap();
    stack.readyz_until(|s, _| s == StatusCode::OK).await;
    let confirmed = stack.post(&alice.token, &confirm, None).await;
    assert_eq!(confirmed.status(), StatusCode::OK);
    assert_eq!(confirmed.json::<Value>().await.unwrap()["version"], 3);
    drop(stack);
    drop(cluster);
}
