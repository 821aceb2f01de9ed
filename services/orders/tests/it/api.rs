//! Every endpoint of the orders API, including each error status, against the real service on
//! real PostgreSQL and NATS.

use crate::support::{TestApp, admin, customer, order_path, spawn_app, spawn_app_selling_kb};
use orderflow_test_support::service::operational_endpoints;
use reqwest::{Response, StatusCode};
use serde_json::{Value, json};

/// The shared problem assertion, plus: the orders API's `type` URI names the code.
async fn problem(response: reqwest::Response, status: StatusCode, code: &str) -> Value {
    let body = orderflow_test_support::service::problem(response, status, code).await;
    assert!(body["type"].as_str().unwrap().contains(code));
    body
}

#[tokio::test]
async fn create_read_and_walk_an_order_through_its_life() {
    let stack = spawn_app().await;
    stack.seed_product("KB-001", 4_999).await;
    stack.seed_product("MS-002", 1_250).await;
    let alice = customer("Alice");
    let ops = admin();

    let response = stack
        .post(
            &alice.token,
            "/api/orders",
            Some(json!({ "lines": [
            { "sku": "KB-001", "quantity": 2 }, { "sku": "ms-002", "quantity": 1 } ] })),
        )
        .await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let location = response.headers()["location"].to_str().unwrap().to_owned();
    assert_eq!(response.headers()["etag"], "\"1\"");
    let order: Value = response.json().await.unwrap();
    assert_eq!(location, order_path(&order));
    assert_eq!(order["status"], "Draft");
    assert_eq!(order["total"], "112.48", "prices come from the catalog");
    assert_eq!(order["lines"][1]["sku"], "MS-002");
    assert_eq!(order["lines"][0]["unitPrice"], "49.99");
    assert_eq!(order["customerName"], "Alice");
    assert_eq!(order["customerId"], alice.id.to_string());
    let number = order["orderNumber"].as_str().unwrap();
    assert!(
        number.starts_with("ORD-20") && number.len() == "ORD-2026-000001".len(),
        "{number}"
    );

    let fetched = stack.get(&alice.token, &location).await;
    assert_eq!(fetched.status(), StatusCode::OK);
    assert_eq!(fetched.json::<Value>().await.unwrap()["id"], order["id"]);

    let confirmed = stack
        .post(&alice.token, &format!("{location}/confirm"), None)
        .await;
    assert_eq!(confirmed.status(), StatusCode::OK);
    assert_eq!(
        confirmed.headers()["etag"],
        "\"3\"",
        "confirm raises two events"
    );
    for (action, status) in [
        ("process", "Processing"),
        ("ship", "Shipped"),
        ("deliver", "Delivered"),
    ] {
        let r = stack
            .post(&ops.token, &format!("{location}/{action}"), None)
            .await;
        assert_eq!(r.status(), StatusCode::OK, "{action}");
        assert_eq!(r.json::<Value>().await.unwrap()["status"], status);
    }
}

#[tokio::test]
async fn authentication_and_roles_are_enforced() {
    let (stack, alice) = spawn_app_selling_kb(100).await;

    let anonymous = stack.get_anonymous("/api/orders").await;
    problem(anonymous, StatusCode::UNAUTHORIZED, "missing_token").await;
    let forged = format!("{}x", alice.token);
    let body = problem(
        stack.get(&forged, "/api/orders").await,
        StatusCode::UNAUTHORIZED,
        "invalid_token",
    )
    .await;
    assert!(
        !body.to_string().contains(&alice.token[..20]),
        "the token is never echoed"
    );

    let order = stack.create_order(&alice.token, "KB-001", 1).await;
    let path = order_path(&order);
    stack
        .post(&alice.token, &format!("{path}/confirm"), None)
        .await;
    for action in ["process", "ship", "deliver"] {
        let r = stack
            .post(&alice.token, &format!("{path}/{action}"), None)
            .await;
        problem(r, StatusCode::FORBIDDEN, "forbidden").await;
    }
}

#[tokio::test]
async fn customers_never_see_or_change_each_others_orders() {
    let stack = spawn_app().await;
    stack.seed_product("KB-001", 100).await;
    let (alice, bob, ops) = (customer("Alice"), customer("Bob"), admin());
    let alices = stack.create_order(&alice.token, "KB-001", 1).await;
    let bobs = stack.create_order(&bob.token, "KB-001", 3).await;
    let path = order_path(&alices);

    problem(
        stack.get(&bob.token, &path).await,
        StatusCode::NOT_FOUND,
        "order_not_found",
    )
    .await;
    for action in ["confirm", "cancel"] {
        let r = stack
            .post(&bob.token, &format!("{path}/{action}"), None)
            .await;
        problem(r, StatusCode::NOT_FOUND, "order_not_found").await;
    }
    let unknown = format!("/api/orders/{}", uuid::Uuid::now_v7());
    problem(
        stack.get(&alice.token, &unknown).await,
        StatusCode::NOT_FOUND,
        "order_not_found",
    )
    .await;

    let bob_list = stack.get_json(&bob.token, "/api/orders").await;
    let ids: Vec<&Value> = bob_list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| &o["id"])
        .collect();
    assert_eq!(ids, vec![&bobs["id"]]);
    let all = stack.get_json(&ops.token, "/api/orders").await;
    assert_eq!(
        all["items"].as_array().unwrap().len(),
        2,
        "admins see every order"
    );
    let one = format!("/api/orders?customerId={}", alice.id);
    let filtered = stack.get_json(&ops.token, &one).await;
    assert_eq!(filtered["items"][0]["id"], alices["id"]);
    // A customer cannot widen their view with customerId.
    let sneaky = stack.get_json(&bob.token, &one).await;
    assert_eq!(sneaky["items"].as_array().unwrap().len(), 1);
    assert_eq!(sneaky["items"][0]["id"], bobs["id"]);
}

#[tokio::test]
async fn invalid_input_gets_precise_problems() {
    let (stack, alice) = spawn_app_selling_kb(100).await;
    let t = &alice.token;

    let raw = stack
        .post_raw(t, "/api/orders", Some("application/json"), "{\"lines\": [")
        .await;
    problem(raw, StatusCode::BAD_REQUEST, "malformed_json").await;
    let text = stack.post_raw(t, "/api/orders", None, "hi").await;
    problem(
        text,
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "unsupported_media_type",
    )
    .await;
    let line =
        |sku: &str, quantity: i64| json!({ "lines": [{ "sku": sku, "quantity": quantity }] });
    for (body, status, code) in [
        (
            json!({ "items": [] }),
            StatusCode::BAD_REQUEST,
            "invalid_body",
        ),
        (
            json!({ "lines": [] }),
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
        ),
        (
            line("KB-001", 0),
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
        ),
        (
            line("KB.001", 1),
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
        ),
    ] {
        problem(stack.post(t, "/api/orders", body).await, status, code).await;
    }
    let unknown = stack
        .post(t, "/api/orders", Some(json!({ "lines": [{ "sku": "KB-001", "quantity": 1 }, { "sku": "NOPE-9", "quantity": 1 }] })))
        .await;
    let body = problem(unknown, StatusCode::UNPROCESSABLE_ENTITY, "unknown_sku").await;
    assert_eq!(body["skus"], json!(["NOPE-9"]));
    assert!(body["detail"].as_str().unwrap().contains("NOPE-9"));

    for (path, status, code) in [
        (
            "/api/orders/not-a-uuid",
            StatusCode::BAD_REQUEST,
            "invalid_order_id",
        ),
        (
            "/api/orders?status=Lost",
            StatusCode::BAD_REQUEST,
            "invalid_status",
        ),
        (
            "/api/orders?limit=0",
            StatusCode::BAD_REQUEST,
            "invalid_limit",
        ),
        (
            "/api/orders?cursor=zzz",
            StatusCode::BAD_REQUEST,
            "invalid_cursor",
        ),
        ("/api/nothing", StatusCode::NOT_FOUND, "route_not_found"),
    ] {
        problem(stack.get(t, path).await, status, code).await;
    }

    let order = stack.create_order(t, "KB-001", 1).await;
    let path = order_path(&order);
    problem(
        stack.post(t, &format!("{path}/teleport"), None).await,
        StatusCode::NOT_FOUND,
        "route_not_found",
    )
    .await;
    let ship = stack
        .post(&admin().token, &format!("{path}/ship"), None)
        .await;
    let body = problem(ship, StatusCode::CONFLICT, "invalid_transition").await;
    assert_eq!(body["currentStatus"], "Draft");
    assert!(body["detail"].as_str().unwrap().contains("Draft"));
}

async fn post_if_match(stack: &TestApp, token: &str, path: &str, version: &str) -> Response {
    stack
        .post_with(token, path, &[("if-match", version)], None)
        .await
}

#[tokio::test]
async fn if_match_guards_against_lost_updates() {
    let (stack, alice) = spawn_app_selling_kb(100).await;
    let order = stack.create_order(&alice.token, "KB-001", 1).await;
    let path = format!("/api/orders/{}/confirm", order["id"].as_str().unwrap());

    let stale = post_if_match(&stack, &alice.token, &path, "\"7\"").await;
    let body = problem(stale, StatusCode::PRECONDITION_FAILED, "version_mismatch").await;
    assert_eq!(body["currentVersion"], 1);
    let garbage = post_if_match(&stack, &alice.token, &path, "yesterday").await;
    problem(garbage, StatusCode::BAD_REQUEST, "invalid_if_match").await;
    let fresh = post_if_match(&stack, &alice.token, &path, "\"1\"").await;
    assert_eq!(fresh.status(), StatusCode::OK);
}

#[tokio::test]
async fn concurrent_updates_one_wins_the_other_gets_412_or_409() {
    let (stack, alice) = spawn_app_selling_kb(100).await;
    for _ in 0..5 {
        let order = stack.create_order(&alice.token, "KB-001", 1).await;
        let base = order_path(&order);
        let send = |action: &'static str| {
            let request = stack
                .http
                .post(stack.url(&format!("{base}/{action}")))
                .bearer_auth(&alice.token)
                .header("if-match", "\"1\"")
                .send();
            async move { request.await.unwrap().status() }
        };
        let (a, b) = tokio::join!(send("confirm"), send("cancel"));
        let mut statuses = [a, b];
        statuses.sort();
        assert_eq!(statuses[0], StatusCode::OK, "{statuses:?}");
        assert!(
            [StatusCode::CONFLICT, StatusCode::PRECONDITION_FAILED].contains(&statuses[1]),
            "{statuses:?}"
        );
    }
}

#[tokio::test]
async fn idempotency_key_makes_create_safe_to_retry() {
    let (stack, alice) = spawn_app_selling_kb(100).await;
    let body = json!({ "lines": [{ "sku": "KB-001", "quantity": 2 }] });
    let send = |body: Value, key: &'static str| {
        stack
            .http
            .post(stack.url("/api/orders"))
            .bearer_auth(&alice.token)
            .header("idempotency-key", key)
            .json(&body)
            .send()
    };
    let (first, second) = tokio::join!(send(body.clone(), "k-1"), send(body.clone(), "k-1"));
    let (first, second) = (first.unwrap(), second.unwrap());
    let mut statuses = [first.status(), second.status()];
    statuses.sort();
    assert_eq!(statuses, [StatusCode::OK, StatusCode::CREATED]);
    let a: Value = first.json().await.unwrap();
    let b: Value = second.json().await.unwrap();
    assert_eq!(a["id"], b["id"]);
    let list = stack.get_json(&alice.token, "/api/orders").await;
    assert_eq!(list["items"].as_array().unwrap().len(), 1);

    let other = send(
        json!({ "lines": [{ "sku": "KB-001", "quantity": 3 }] }),
        "k-1",
    )
    .await
    .unwrap();
    problem(
        other,
        StatusCode::UNPROCESSABLE_ENTITY,
        "idempotency_key_reused",
    )
    .await;
    // The same key of another customer is another key.
    let bob = customer("Bob");
    let keyed = [("idempotency-key", "k-1")];
    let bobs = stack
        .post_with(&bob.token, "/api/orders", &keyed, Some(body.clone()))
        .await;
    assert_eq!(bobs.status(), StatusCode::CREATED);
}

#[tokio::test]
async fn listing_pages_and_filters_by_status() {
    let (stack, alice) = spawn_app_selling_kb(100).await;
    let mut ids = Vec::new();
    for _ in 0..5 {
        ids.push(stack.create_order(&alice.token, "KB-001", 1).await["id"].clone());
    }
    stack
        .post(
            &alice.token,
            &format!("/api/orders/{}/cancel", ids[0].as_str().unwrap()),
            Some(json!({ "reason": "Changed my mind" })),
        )
        .await;

    let mut seen = Vec::new();
    let mut next = Some("/api/orders?limit=2".to_owned());
    while let Some(path) = next {
        let page = stack.get_json(&alice.token, &path).await;
        seen.extend(
            page["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|o| o["id"].clone()),
        );
        next = page["nextCursor"]
            .as_str()
            .map(|c| format!("/api/orders?limit=2&cursor={c}"));
    }
    ids.reverse();
    assert_eq!(seen, ids, "newest first, every order exactly once");

    let cancelled = stack
        .get_json(&alice.token, "/api/orders?status=cancelled")
        .await;
    let items = cancelled["items"].as_array().unwrap();
    assert_eq!(items.len(), 1);
    assert_eq!(items[0]["cancelReason"], "Changed my mind");
}

#[tokio::test]
async fn operational_endpoints_and_openapi() {
    let stack = spawn_app().await;
    let (ready, doc) = operational_endpoints(&stack).await;
    assert_eq!(ready, StatusCode::OK);
    for action in ["confirm", "cancel", "process", "ship", "deliver"] {
        let path = format!("/api/orders/{{id}}/{action}");
        assert!(doc["paths"][&path]["post"].is_object(), "{path}: {doc}");
    }
    // Query parameters are documented as such, not as path segments.
    let list = &doc["paths"]["/api/orders"]["get"]["parameters"];
    assert!(
        list.as_array().unwrap().iter().all(|p| p["in"] == "query"),
        "{list}"
    );
    assert!(doc["components"]["schemas"]["OrderDto"].is_object());
}
