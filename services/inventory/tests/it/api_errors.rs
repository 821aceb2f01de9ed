//! The inventory API's error statuses and its guard against overdrawing stock under
//! concurrent adjustments, against the real service on real PostgreSQL and NATS.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::support::{Options, TestApp, admin, problem, spawn_app_with};

#[tokio::test]
async fn invalid_input_gets_precise_problems() {
    let stack = spawn_app_with(Options::idle()).await;
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
    for bad in [
        json!({ "sku": "AB", "name": "X", "unitPrice": 1.5 }),
        json!({ "sku": "AB", "name": "X", "unitPrice": "1", "stock": 1 }),
    ] {
        problem(
            stack.post(&ops.token, "/api/products", bad).await,
            StatusCode::BAD_REQUEST,
            "invalid_body",
        )
        .await;
    }
    let malformed = stack
        .post_raw(&ops.token, "/api/products", Some("application/json"), "{")
        .await;
    problem(malformed, StatusCode::BAD_REQUEST, "malformed_json").await;

    let (get, patch) = (Method::GET, Method::PATCH);
    let name = Some(json!({ "name": "N" }));
    let stock_level = Some(json!({ "stockLevel": 9 }));
    expect_problems(
        &stack,
        [
            (
                get.clone(),
                "/api/products/NOPE-1",
                None,
                StatusCode::NOT_FOUND,
                "product_not_found",
            ),
            (
                get,
                "/api/products/a.b",
                None,
                StatusCode::BAD_REQUEST,
                "invalid_sku",
            ),
            (
                patch.clone(),
                "/api/products/NOPE-1",
                name,
                StatusCode::NOT_FOUND,
                "product_not_found",
            ),
            (
                patch.clone(),
                "/api/products/KB-001",
                Some(json!({})),
                StatusCode::UNPROCESSABLE_ENTITY,
                "validation_failed",
            ),
            (
                patch,
                "/api/products/KB-001",
                stock_level,
                StatusCode::BAD_REQUEST,
                "invalid_body",
            ),
        ],
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
    let post = Method::POST;
    let unknown = "/api/products/NOPE-1/stock-adjustments";
    expect_problems(
        &stack,
        [
            (
                post.clone(),
                adjust,
                Some(json!({ "delta": 0, "reason": "noop" })),
                StatusCode::UNPROCESSABLE_ENTITY,
                "validation_failed",
            ),
            (
                post.clone(),
                adjust,
                Some(json!({ "delta": 1, "reason": "" })),
                StatusCode::UNPROCESSABLE_ENTITY,
                "validation_failed",
            ),
            (
                post,
                unknown,
                Some(json!({ "delta": 1, "reason": "r" })),
                StatusCode::NOT_FOUND,
                "product_not_found",
            ),
        ],
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

/// Sends each `(method, path, body)` as an admin and asserts the problem that comes back.
async fn expect_problems<const N: usize>(
    stack: &TestApp,
    cases: [(Method, &str, Option<Value>, StatusCode, &str); N],
) {
    let ops = admin();
    for (method, path, body, status, code) in cases {
        let response = stack.send(method, &ops.token, path, body).await;
        problem(response, status, code).await;
    }
}

#[tokio::test]
async fn concurrent_adjustments_never_overdraw() {
    let stack = spawn_app_with(Options::idle()).await;
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
