//! The inventory service while PostgreSQL is away, on real servers: every request fails fast
//! with `503 database_unavailable` and `Retry-After`, `/readyz` answers at once and says
//! unready, and the service serves again as soon as the database is back. (NATS away:
//! `degraded.rs`.)

use orderflow_test_support::service::assert_database_unavailable;
use reqwest::StatusCode;
use serde_json::json;

use crate::support::{Options, admin, customer, spawn_app_with};

#[tokio::test]
async fn database_away_means_fast_503s_and_an_unready_service() {
    let stack = spawn_app_with(Options::behind_proxy()).await;
    let postgres = stack.postgres_proxy();
    stack.create_product("KB-001", "10.00", 5).await;
    let (ops, alice) = (admin(), customer("Alice"));
    stack.readyz_until(|s, _| s == StatusCode::OK).await;

    postgres.cut();
    for _ in 0..3 {
        assert_database_unavailable(stack.get(&alice.token, "/api/products/KB-001")).await;
        assert_database_unavailable(stack.post(
            &ops.token,
            "/api/products/KB-001/stock-adjustments",
            json!({ "delta": 1, "reason": "goods received" }),
        ))
        .await;
    }
    stack
        .readyz_until(|s, body| {
            s == StatusCode::SERVICE_UNAVAILABLE && body["checks"]["postgres"] != "ok"
        })
        .await;

    postgres.restore();
    stack.readyz_until(|s, _| s == StatusCode::OK).await;
    assert_eq!(
        stack.level("KB-001").await,
        5,
        "the failed adjustments changed nothing"
    );
}
