//! The inventory service while NATS is away, on real servers: its REST API needs only
//! PostgreSQL, so it stays ready, reports `degraded: ["nats"]` in `/readyz` and
//! `dependency_up{dependency="nats"} 0` in `/metrics`, and keeps serving (stock changes wait in
//! the outbox). Runs alone (`Options::alone`), so no other app in the process writes the gauge.

use orderflow_test_support::service::{
    assert_nats_down_in_metrics, nats_comes_back, nats_goes_away,
};
use reqwest::StatusCode;
use serde_json::json;

use crate::support::{Options, admin, spawn_app_with};

#[tokio::test]
async fn nats_down_keeps_the_api_ready_and_reports_it_degraded() {
    let mut stack = spawn_app_with(Options::default().alone()).await;
    stack.create_product("KB-001", "10.00", 5).await;
    nats_goes_away(&mut stack, "inventory", |_| true).await;
    let adjusted = stack
        .post(
            &admin().token,
            "/api/products/KB-001/stock-adjustments",
            json!({ "delta": 2, "reason": "goods received" }),
        )
        .await;
    assert_eq!(adjusted.status(), StatusCode::OK);
    assert_eq!(stack.level("KB-001").await, 7);
    assert_nats_down_in_metrics(&stack).await;

    nats_comes_back(&mut stack).await;
}
