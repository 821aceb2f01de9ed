//! The inventory service while NATS is away, on real servers: its REST API needs only
//! PostgreSQL, so it stays ready, reports `degraded: ["nats"]` in `/readyz` and
//! `dependency_up{dependency="nats"} 0` in `/metrics`, and keeps serving (stock changes wait in
//! the outbox). Alone in its test binary, so no other app in the process writes the gauge.

mod support;

use std::time::Duration;

use orderflow_test_support::readyz_until;
use reqwest::StatusCode;
use serde_json::json;
use support::{Stack, admin};

#[tokio::test]
async fn nats_down_keeps_the_api_ready_and_reports_it_degraded() {
    let mut stack = Stack::start().await;
    stack.create_product("KB-001", "10.00", 5).await;
    readyz_until(
        &stack.http,
        &stack.url("/readyz"),
        Duration::from_millis(100),
        |s, body| s == StatusCode::OK && body["degraded"] == json!([]),
    )
    .await;

    stack.nats.kill();
    readyz_until(
        &stack.http,
        &stack.url("/readyz"),
        Duration::from_millis(100),
        |s, body| {
            assert_eq!(
                s,
                StatusCode::OK,
                "a NATS outage never makes inventory unready: {body}"
            );
            body["degraded"] == json!(["nats"])
        },
    )
    .await;
    let adjusted = stack
        .post(
            &admin().token,
            "/api/products/KB-001/stock-adjustments",
            json!({ "delta": 2, "reason": "goods received" }),
        )
        .await;
    assert_eq!(adjusted.status(), StatusCode::OK);
    assert_eq!(stack.level("KB-001").await, 7);
    let metrics = stack
        .http
        .get(stack.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("dependency_up{dependency=\"nats\"} 0"),
        "{metrics}"
    );

    stack.nats.restart().await;
    readyz_until(
        &stack.http,
        &stack.url("/readyz"),
        Duration::from_millis(100),
        |s, body| s == StatusCode::OK && body["degraded"] == json!([]),
    )
    .await;
}
