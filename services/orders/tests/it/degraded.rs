//! The orders service while NATS is away, on real servers: it stays ready (requests need only
//! PostgreSQL; events wait in the outbox), says `degraded: ["nats"]` in `/readyz` and
//! `dependency_up{dependency="nats"} 0` in `/metrics`, and the events flow once NATS is back.
//! Runs alone (`Options::alone`), so no other app in the process writes the same gauge.

use orderflow_test_support::service::{
    assert_nats_down_in_metrics, nats_comes_back, nats_goes_away,
};
use reqwest::StatusCode;

use crate::support::{Options, customer, spawn_app_with, wait_for_stream};

#[tokio::test]
async fn nats_down_keeps_the_service_ready_and_reports_it_degraded() {
    let mut stack = spawn_app_with(Options::default().alone()).await;
    stack.seed_product("KB-001", 4_999).await;
    let alice = customer("Alice");
    nats_goes_away(&mut stack, "orders", |body| body["checks"]["nats"] != "ok").await;
    // Still serving: the events wait in the outbox.
    let order = stack.create_order(&alice.token, "KB-001", 1).await;
    let path = format!("/api/orders/{}/confirm", order["id"].as_str().unwrap());
    assert_eq!(
        stack.post(&alice.token, &path, None).await.status(),
        StatusCode::OK
    );
    assert_nats_down_in_metrics(&stack).await;

    nats_comes_back(&mut stack).await;
    let events = wait_for_stream(&stack.app.jetstream(), "ORDERS", 3).await;
    assert_eq!(
        events.len(),
        3,
        "created and confirmed (two events) reached the stream"
    );
}
