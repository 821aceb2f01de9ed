//! The orders service while NATS is away, on real servers: it stays ready (requests need only
//! PostgreSQL; events wait in the outbox), says `degraded: ["nats"]` in `/readyz` and
//! `dependency_up{dependency="nats"} 0` in `/metrics`, and the events flow once NATS is back.
//! Alone in its test binary, so no other app in the process writes the same gauge.

mod support;

use std::time::Duration;

use orderflow_test_support::readyz_until;
use reqwest::StatusCode;
use serde_json::json;
use support::{Stack, customer};

#[tokio::test]
async fn nats_down_keeps_the_service_ready_and_reports_it_degraded() {
    let mut stack = Stack::start().await;
    stack.seed_product("KB-001", 4_999).await;
    let alice = customer("Alice");
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
                "a NATS outage never makes orders unready: {body}"
            );
            body["degraded"] == json!(["nats"]) && body["checks"]["nats"] != "ok"
        },
    )
    .await;
    // Still serving: the events wait in the outbox.
    let order = stack.create_order(&alice.token, "KB-001", 1).await;
    let path = format!("/api/orders/{}/confirm", order["id"].as_str().unwrap());
    assert_eq!(
        stack.post(&alice.token, &path, None).await.status(),
        StatusCode::OK
    );
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
    let events = support::wait_for_stream(&stack.app.jetstream(), "ORDERS", 3).await;
    assert_eq!(
        events.len(),
        3,
        "created and confirmed (two events) reached the stream"
    );
}
