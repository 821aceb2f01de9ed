//! The orders service reacting to inventory events through its durable consumer: the local
//! catalog follows `ProductUpserted`, and a `ReservationRejected` cancels a confirmed order with
//! a reason the customer sees.

use crate::support::{TestApp, customer, spawn_app, spawn_app_selling_kb};
use orderflow_events::Event;
use orderflow_events::common::v1::EventMetadata;
use orderflow_events::inventory::v1::{ProductUpserted, ReservationRejected};
use orderflow_test_support::{eventually, jetstream};
use serde_json::{Value, json};
use time::OffsetDateTime;
use uuid::Uuid;

async fn publish<E: Event>(stack: &TestApp, event: &E) {
    jetstream::publish(&stack.app.jetstream(), event).await;
}

fn product(id: Uuid, version: u64, price: i64) -> ProductUpserted {
    ProductUpserted {
        metadata: Some(EventMetadata::new(id, version, OffsetDateTime::now_utc())),
        product_id: id.to_string(),
        sku: "LAMP-7".into(),
        name: "Desk lamp".into(),
        unit_price_minor: price,
        currency: "USD".into(),
        low_stock_threshold: 5,
    }
}

/// Polls `check` until it holds (or panics after the deadline naming `what`).
async fn until<F: AsyncFn() -> bool>(what: &str, check: F) {
    eventually(what, || async { check().await.then_some(()) }).await;
}

#[tokio::test]
async fn catalog_follows_product_events_newest_version_wins() {
    let stack = spawn_app().await;
    let alice = customer("Alice");
    let id = Uuid::now_v7();
    publish(&stack, &product(id, 1, 1_000)).await;
    publish(&stack, &product(id, 3, 3_000)).await;
    // An older version arriving late (a redelivery) does not roll the price back.
    let stale = product(id, 2, 2_000);
    publish(&stack, &stale).await;
    let body = json!({ "lines": [{ "sku": "LAMP-7", "quantity": 1 }] });
    until("the product to reach the catalog", async || {
        stack
            .post(&alice.token, "/api/orders", Some(body.clone()))
            .await
            .status()
            == 201
    })
    .await;
    // Once the late event's inbox row is committed, whatever it did to the catalog is too.
    until("the late version to be handled", async || {
        let handled: i64 =
            sqlx::query_scalar("SELECT count(*) FROM inbox WHERE event_id::text = $1")
                .bind(jetstream::event_id(&stale))
                .fetch_one(&stack.pool)
                .await
                .unwrap();
        handled == 1
    })
    .await;
    let order: Value = stack
        .post(&alice.token, "/api/orders", Some(body))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(order["total"], "30.00");
}

#[tokio::test]
async fn a_rejected_reservation_cancels_the_order_with_a_reason() {
    let (stack, alice) = spawn_app_selling_kb(100).await;
    let order = stack.create_order(&alice.token, "KB-001", 3).await;
    let id = order["id"].as_str().unwrap();
    let path = format!("/api/orders/{id}");
    stack
        .post(&alice.token, &format!("{path}/confirm"), None)
        .await;

    let rejected = ReservationRejected {
        metadata: Some(EventMetadata::new(
            Uuid::parse_str(id).unwrap(),
            3,
            OffsetDateTime::now_utc(),
        )),
        order_id: id.to_owned(),
        customer_id: alice.id.to_string(),
        reason: "Out of stock: KB-001 (requested 3, available 1)".into(),
        shortages: vec![],
    };
    publish(&stack, &rejected).await;
    publish(&stack, &rejected).await; // a duplicate changes nothing
    until("the order to be cancelled", async || {
        let o = stack.get_json(&alice.token, &path).await;
        o["status"] == "Cancelled"
    })
    .await;
    let o = stack.get_json(&alice.token, &path).await;
    assert_eq!(
        o["cancelReason"],
        "Out of stock: KB-001 (requested 3, available 1)"
    );
    assert_eq!(
        o["version"], 5,
        "cancelled once: created, confirmed, changed, cancelled, changed"
    );
}
