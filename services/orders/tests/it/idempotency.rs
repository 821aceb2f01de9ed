//! `Idempotency-Key` on transitions against the real service, PostgreSQL and NATS: a retry is
//! answered with what the first request committed, even after the order moved on; a key names
//! one request of one caller; a refused request records nothing; concurrent retries commit once;
//! expired keys are purged.

use std::time::Duration;

use orderflow_orders::idempotency::{self, KEY_LIFETIME};
use orderflow_test_support::service::problem;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::support::{
    Options, TestApp, admin, customer, order_path, read_stream, spawn_app_selling_kb,
    spawn_app_with, spawn_app_with_draft, wait_for_stream,
};

/// POST with a token, an `Idempotency-Key` and an optional JSON body.
async fn post_keyed(
    stack: &TestApp,
    token: &str,
    path: &str,
    key: &str,
    body: Option<Value>,
) -> reqwest::Response {
    post_keyed_if_match(stack, token, path, key, None, body).await
}

/// [`post_keyed`], with an `If-Match` header when `version` is given.
async fn post_keyed_if_match(
    stack: &TestApp,
    token: &str,
    path: &str,
    key: &str,
    version: Option<&str>,
    body: Option<Value>,
) -> reqwest::Response {
    let mut headers = vec![("Idempotency-Key", key)];
    headers.extend(version.map(|v| ("If-Match", v)));
    stack.post_with(token, path, &headers, body).await
}

fn replayed(response: &reqwest::Response) -> bool {
    response
        .headers()
        .get("idempotent-replayed")
        .is_some_and(|v| v == "true")
}

#[tokio::test]
async fn a_retried_transition_answers_with_what_the_first_one_committed() {
    let (stack, alice, order) = spawn_app_with_draft(1).await;
    let ops = admin();
    let path = order_path(&order);

    let confirm = format!("{path}/confirm");
    let confirm_with_k1 = || post_keyed(&stack, &alice.token, &confirm, "k-1", None);
    let first = confirm_with_k1().await;
    assert_eq!(first.status(), StatusCode::OK);
    assert!(!replayed(&first));
    assert_eq!(first.headers()["etag"], "\"3\"");
    let first: Value = first.json().await.unwrap();

    let retry = confirm_with_k1().await;
    assert_eq!(retry.status(), StatusCode::OK);
    assert!(replayed(&retry));
    assert_eq!(retry.headers()["etag"], "\"3\"");
    assert_eq!(retry.json::<Value>().await.unwrap(), first);

    // The order moves on; a late retry still gets the confirmation's own result, not a 409.
    let processed = stack
        .post(&ops.token, &format!("{path}/process"), None)
        .await;
    assert_eq!(processed.status(), StatusCode::OK);
    let late = confirm_with_k1().await;
    assert_eq!(late.status(), StatusCode::OK);
    assert!(replayed(&late));
    assert_eq!(late.json::<Value>().await.unwrap(), first);

    // Without a key, the same request is a new one, refused in the order's current state.
    let unkeyed = stack.post(&alice.token, &confirm, None).await;
    problem(unkeyed, StatusCode::CONFLICT, "invalid_transition").await;
    let now = stack.get_json(&alice.token, &path).await;
    assert_eq!(now["status"], "Processing");
    assert_eq!(now["version"], 4, "the retries changed nothing");

    // A cancel's retry keeps its reason, and an If-Match retry is a retry too.
    let bob = customer("Bob");
    let order = stack.create_order(&bob.token, "KB-001", 1).await;
    let cancel = format!("/api/orders/{}/cancel", order["id"].as_str().unwrap());
    let reason = Some(json!({ "reason": "Found it cheaper" }));
    for attempt in 0..2 {
        let response = post_keyed_if_match(
            &stack,
            &bob.token,
            &cancel,
            "cancel-1",
            Some("\"1\""),
            reason.clone(),
        )
        .await;
        assert_eq!(response.status(), StatusCode::OK, "attempt {attempt}");
        assert_eq!(replayed(&response), attempt == 1);
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["cancelReason"], "Found it cheaper");
        assert_eq!(body["version"], 3);
    }
}

#[tokio::test]
async fn a_key_names_one_request_of_one_caller() {
    let (stack, alice) = spawn_app_selling_kb(4_999).await;
    let a = stack.create_order(&alice.token, "KB-001", 1).await;
    let b = stack.create_order(&alice.token, "KB-001", 1).await;
    let a = order_path(&a);
    let b = order_path(&b);

    let confirm_a = post_keyed(&stack, &alice.token, &format!("{a}/confirm"), "k", None).await;
    assert_eq!(confirm_a.status(), StatusCode::OK);
    // The same key for another command, another order, another If-Match, or a create: 422.
    for response in [
        post_keyed(&stack, &alice.token, &format!("{a}/cancel"), "k", None).await,
        post_keyed(&stack, &alice.token, &format!("{b}/confirm"), "k", None).await,
        post_keyed_if_match(
            &stack,
            &alice.token,
            &format!("{a}/confirm"),
            "k",
            Some("\"1\""),
            None,
        )
        .await,
        post_keyed(
            &stack,
            &alice.token,
            "/api/orders",
            "k",
            Some(json!({ "lines": [{ "sku": "KB-001", "quantity": 1 }] })),
        )
        .await,
    ] {
        problem(
            response,
            StatusCode::UNPROCESSABLE_ENTITY,
            "idempotency_key_reused",
        )
        .await;
    }
    // A create's key cannot name a transition either.
    let created = post_keyed(
        &stack,
        &alice.token,
        "/api/orders",
        "create-1",
        Some(json!({ "lines": [{ "sku": "KB-001", "quantity": 2 }] })),
    )
    .await;
    assert_eq!(created.status(), StatusCode::CREATED);
    let created: Value = created.json().await.unwrap();
    let c = order_path(&created);
    let reused = post_keyed(
        &stack,
        &alice.token,
        &format!("{c}/confirm"),
        "create-1",
        None,
    )
    .await;
    problem(
        reused,
        StatusCode::UNPROCESSABLE_ENTITY,
        "idempotency_key_reused",
    )
    .await;
    // Keys belong to their caller: an admin's "k" is another key.
    let ops = admin();
    let shipped = post_keyed(&stack, &ops.token, &format!("{a}/process"), "k", None).await;
    assert_eq!(shipped.status(), StatusCode::OK);
    assert!(!replayed(&shipped));
}

#[tokio::test]
async fn a_refused_request_records_nothing_and_bad_keys_are_400() {
    let (stack, alice, order) = spawn_app_with_draft(1).await;
    let ops = admin();
    let path = order_path(&order);

    // Ship a draft: 409, and the key stays free.
    let early = post_keyed(&stack, &ops.token, &format!("{path}/ship"), "ship-1", None).await;
    problem(early, StatusCode::CONFLICT, "invalid_transition").await;
    for (token, action) in [(&alice.token, "confirm"), (&ops.token, "process")] {
        let r = stack.post(token, &format!("{path}/{action}"), None).await;
        assert_eq!(r.status(), StatusCode::OK);
    }
    let ship = post_keyed(&stack, &ops.token, &format!("{path}/ship"), "ship-1", None).await;
    assert_eq!(ship.status(), StatusCode::OK);
    assert!(!replayed(&ship), "decided afresh");

    // Another customer's order stays a 404 with or without a key.
    let mallory = customer("Mallory");
    let probe = post_keyed(&stack, &mallory.token, &format!("{path}/cancel"), "m", None).await;
    problem(probe, StatusCode::NOT_FOUND, "order_not_found").await;

    for bad in ["", "has space", &"x".repeat(256)] {
        let response = post_keyed(&stack, &ops.token, &format!("{path}/deliver"), bad, None).await;
        problem(response, StatusCode::BAD_REQUEST, "invalid_idempotency_key").await;
    }
}

#[tokio::test]
async fn concurrent_requests_with_one_key_commit_once() {
    let (stack, alice, order) = spawn_app_with_draft(1).await;
    let id = order["id"].as_str().unwrap().to_owned();
    let path = format!("/api/orders/{id}/confirm");

    let responses = futures::future::join_all(
        (0..8).map(|_| post_keyed(&stack, &alice.token, &path, "same", None)),
    )
    .await;
    let mut fresh = 0;
    for response in responses {
        assert_eq!(response.status(), StatusCode::OK);
        fresh += usize::from(!replayed(&response));
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["version"], 3);
        assert_eq!(body["status"], "Confirmed");
    }
    assert_eq!(
        fresh, 1,
        "one request committed, the others were answered from it"
    );

    // Exactly one confirmation in the stream: versions 1, 2, 3 of the order, once each.
    let stored = wait_for_stream(&stack.app.jetstream(), "ORDERS", 3).await;
    // Nothing more can come once the relay has published and deleted every outbox row.
    stack.outbox_drained().await;
    let mut versions: Vec<u64> = read_stream(&stack.app.jetstream(), "ORDERS")
        .await
        .iter()
        .filter_map(|s| s.event.metadata())
        .filter(|m| m.aggregate_id == id)
        .map(|m| m.aggregate_version)
        .collect();
    versions.sort_unstable();
    assert_eq!(versions, [1, 2, 3], "{stored:?}");
}

#[tokio::test]
async fn one_key_racing_on_two_orders_changes_one_of_them() {
    let (stack, alice) = spawn_app_selling_kb(4_999).await;
    for round in 0..5 {
        let a = stack.create_order(&alice.token, "KB-001", 1).await;
        let b = stack.create_order(&alice.token, "KB-001", 1).await;
        let key = format!("race-{round}");
        let paths = [&a, &b].map(|o| format!("/api/orders/{}/confirm", o["id"].as_str().unwrap()));
        let (first, second) = tokio::join!(
            post_keyed(&stack, &alice.token, &paths[0], &key, None),
            post_keyed(&stack, &alice.token, &paths[1], &key, None),
        );
        let mut statuses = [first.status(), second.status()];
        statuses.sort();
        assert_eq!(
            statuses,
            [StatusCode::OK, StatusCode::UNPROCESSABLE_ENTITY],
            "round {round}"
        );
        let confirmed: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM orders WHERE id = ANY($1) AND status = 'Confirmed'",
        )
        .bind(
            [&a, &b]
                .map(|o| o["id"].as_str().unwrap().parse::<uuid::Uuid>().unwrap())
                .to_vec(),
        )
        .fetch_one(&stack.app.pool)
        .await
        .unwrap();
        assert_eq!(confirmed, 1, "round {round}: the loser changed nothing");
    }
}

#[tokio::test]
async fn keys_older_than_their_lifetime_are_purged() {
    let stack = spawn_app_with(Options::idle()).await;
    stack.seed_product("KB-001", 4_999).await;
    let alice = customer("Alice");
    for key in ["old", "new"] {
        let order = stack.create_order(&alice.token, "KB-001", 1).await;
        let path = format!("/api/orders/{}/confirm", order["id"].as_str().unwrap());
        let r = post_keyed(&stack, &alice.token, &path, key, None).await;
        assert_eq!(r.status(), StatusCode::OK);
    }
    let age = KEY_LIFETIME + Duration::from_secs(60);
    sqlx::query("UPDATE idempotency_keys SET created_at = now() - make_interval(secs => $1) WHERE key = 'old'")
        .bind(age.as_secs_f64())
        .execute(&stack.app.pool)
        .await
        .unwrap();

    assert_eq!(
        idempotency::purge_expired(&stack.app.pool).await.unwrap(),
        1
    );
    let left: Vec<String> = sqlx::query_scalar("SELECT key FROM idempotency_keys")
        .fetch_all(&stack.app.pool)
        .await
        .unwrap();
    assert_eq!(left, ["new"]);
    assert_eq!(
        idempotency::purge_expired(&stack.app.pool).await.unwrap(),
        0
    );
}
