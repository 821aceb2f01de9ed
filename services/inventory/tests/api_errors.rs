//! The inventory API's error statuses and its guard against overdrawing stock under
//! concurrent adjustments, against the real service on real PostgreSQL and NATS.

mod support;

use reqwest::StatusCode;
use serde_json::json;
use support::{Stack, admin, problem};

#[tokio::test]
async fn invalid_input_gets_precise_problems() {
    let stack = Stack::start_with(false).await;
    let ops = admin();
    stack.create_product("KB-001", "1.00", 2).await;

    let dup = json!({ "sku": "kb-001", "name": "Again", "unitPrice": "2.00" });
    let body = problem(
        stack.post(&ops.token, "/api/products", dup).await,
        StatusCode::CONFLICT,
        "sku_taken",
    )
    .await;
    assert_eq!(body["sku"], "KB-001");

    for bad in [
        json!({ "sku": "A B", "name": "X", "unitPrice": "1.00" }),
        json!({ "sku": "AB", "name": "  ", "unitPrice": "1.00" }),
        json!({ "sku": "AB", "name": "X", "unitPrice": "1.001" }),
        json!({ "sku": "AB", "name": "X", "unitPrice": "-1" }),
        json!({ "sku": "AB", "name": "X", "unitPrice": "1.00", "initialStock": -1 }),
        json!({ "sku": "AB", "name": "X", "unitPrice": "1.00", "lowStockThreshold": -1 }),
    ] {
        problem(
            stack.post(&ops.token, "/api/products", bad).await,
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
        )
        .await;
    }
    let floats = json!({ "sku": "AB", "name": "X", "unitPrice": 1.5 });
    problem(
        stack.post(&ops.token, "/api/products", floats).await,
        StatusCode::BAD_REQUEST,
        "invalid_body",
    )
    .await;
    let unknown = json!({ "sku": "AB", "name": "X", "unitPrice": "1", "stock": 1 });
    problem(
        stack.post(&ops.token, "/api/products", unknown).await,
        StatusCode::BAD_REQUEST,
        "invalid_body",
    )
    .await;
    let malformed = stack
        .http
        .post(stack.url("/api/products"))
        .bearer_auth(&ops.token)
        .header("content-type", "application/json")
        .body("{")
        .send()
        .await
        .unwrap();
    problem(malformed, StatusCode::BAD_REQUEST, "malformed_json").await;

    problem(
        stack.get(&ops.token, "/api/products/NOPE-1").await,
        StatusCode::NOT_FOUND,
        "product_not_found",
    )
    .await;
    problem(
        stack.get(&ops.token, "/api/products/a.b").await,
        StatusCode::BAD_REQUEST,
        "invalid_sku",
    )
    .await;
    problem(
        stack
            .patch(&ops.token, "/api/products/NOPE-1", json!({ "name": "N" }))
            .await,
        StatusCode::NOT_FOUND,
        "product_not_found",
    )
    .await;
    problem(
        stack
            .patch(&ops.token, "/api/products/KB-001", json!({}))
            .await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
    )
    .await;
    problem(
        stack
            .patch(
                &ops.token,
                "/api/products/KB-001",
                json!({ "stockLevel": 9 }),
            )
            .await,
        StatusCode::BAD_REQUEST,
        "invalid_body",
    )
    .await;

    let adjust = "/api/products/KB-001/stock-adjustments";
    let body = problem(
        stack
            .post(
                &ops.token,
                adjust,
                json!({ "delta": -3, "reason": "broken" }),
            )
            .await,
        StatusCode::CONFLICT,
        "insufficient_stock",
    )
    .await;
    assert_eq!(body["available"], 2);
    problem(
        stack
            .post(&ops.token, adjust, json!({ "delta": 0, "reason": "noop" }))
            .await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
    )
    .await;
    problem(
        stack
            .post(&ops.token, adjust, json!({ "delta": 1, "reason": "" }))
            .await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
    )
    .await;
    problem(
        stack
            .post(
                &ops.token,
                "/api/products/NOPE-1/stock-adjustments",
                json!({ "delta": 1, "reason": "r" }),
            )
            .await,
        StatusCode::NOT_FOUND,
        "product_not_found",
    )
    .await;
    assert_eq!(stack.level("KB-001").await, 2);
    problem(
        stack.get(&ops.token, "/api/nothing").await,
        StatusCode::NOT_FOUND,
        "route_not_found",
    )
    .await;
}

#[tokio::test]
async fn concurrent_adjustments_never_overdraw() {
    let stack = Stack::start_with(false).await;
    stack.create_product("KB-001", "1.00", 10).await;
    let ops = admin();
    let path = "/api/products/KB-001/stock-adjustments";
    let body = json!({ "delta": -3, "reason": "picked" });
    let results =
        futures::future::join_all((0..8).map(|_| stack.post(&ops.token, path, body.clone()))).await;
    let ok = results
        .iter()
        .filter(|r| r.status() == StatusCode::OK)
        .count();
    let conflict = results
        .iter()
        .filter(|r| r.status() == StatusCode::CONFLICT)
        .count();
    assert_eq!((ok, conflict), (3, 5));
    assert_eq!(stack.level("KB-001").await, 1);
}
