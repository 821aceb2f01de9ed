//! The inventory service while PostgreSQL is away, on real servers: every request fails fast
//! with `503 database_unavailable` and `Retry-After`, `/readyz` answers at once and says
//! unready, and the service serves again as soon as the database is back. (NATS away:
//! `degraded.rs`.)

mod support;

use std::time::{Duration, Instant};

use orderflow_test_support::readyz_until;
use reqwest::StatusCode;
use serde_json::{Value, json};
use support::{Stack, admin, customer};

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
}

#[tokio::test]
async fn database_away_means_fast_503s_and_an_unready_service() {
    let (stack, postgres) = Stack::start_behind_proxy().await;
    stack.create_product("KB-001", "10.00", 5).await;
    let (ops, alice) = (admin(), customer("Alice"));
    readyz_until(
        &stack.http,
        &stack.url("/readyz"),
        Duration::from_millis(100),
        |s, _| s == StatusCode::OK,
    )
    .await;

    postgres.cut();
    for _ in 0..3 {
        let asked = Instant::now();
        let response = stack.get(&alice.token, "/api/products/KB-001").await;
        assert_unavailable(response, asked.elapsed()).await;
        let asked = Instant::now();
        let response = stack
            .post(
                &ops.token,
                "/api/products/KB-001/stock-adjustments",
                json!({ "delta": 1, "reason": "goods received" }),
            )
            .await;
        assert_unavailable(response, asked.elapsed()).await;
    }
    readyz_until(
        &stack.http,
        &stack.url("/readyz"),
        Duration::from_millis(100),
        |s, body| s == StatusCode::SERVICE_UNAVAILABLE && body["checks"]["postgres"] != "ok",
    )
    .await;

    postgres.restore();
    readyz_until(
        &stack.http,
        &stack.url("/readyz"),
        Duration::from_millis(100),
        |s, _| s == StatusCode::OK,
    )
    .await;
    assert_eq!(
        stack.level("KB-001").await,
        5,
        "the failed adjustments changed nothing"
    );
}
