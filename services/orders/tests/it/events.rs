//! Each state change produces exactly one message per event in the ORDERS stream, with the
//! right subject, headers and payload; nothing is lost when NATS is down.

use std::time::Duration;

use crate::support::{
    Options, admin, customer, read_stream, spawn_app, spawn_app_with, spawn_app_with_draft,
    wait_for_stream,
};
use orderflow_events::AnyEvent;
use orderflow_events::orders::v1::OrderStatus;
use serde_json::Value;

#[tokio::test]
async fn every_state_change_is_one_message_with_subject_headers_and_payload() {
    let (stack, alice, order) = spawn_app_with_draft(2).await;
    let id = order["id"].as_str().unwrap().to_owned();
    let path = format!("/api/orders/{id}");
    stack
        .post(&alice.token, &format!("{path}/confirm"), None)
        .await;
    stack
        .post(&admin().token, &format!("{path}/process"), None)
        .await;
    stack
        .post(&alice.token, &format!("{path}/cancel"), None)
        .await;

    let stored = wait_for_stream(&stack.app.jetstream(), "ORDERS", 6).await;
    let prefix = format!("orders.v1.{}.{id}", alice.id);
    let expected = [
        ("created", "orderflow.orders.v1.OrderCreated"),
        ("confirmed", "orderflow.orders.v1.OrderConfirmed"),
        ("status_changed", "orderflow.orders.v1.OrderStatusChanged"),
        ("status_changed", "orderflow.orders.v1.OrderStatusChanged"),
        ("cancelled", "orderflow.orders.v1.OrderCancelled"),
        ("status_changed", "orderflow.orders.v1.OrderStatusChanged"),
    ];
    assert_eq!(stored.len(), expected.len(), "{stored:#?}");
    for (i, (message, (token, schema))) in stored.iter().zip(expected).enumerate() {
        assert_eq!(message.subject, format!("{prefix}.{token}"));
        assert_eq!(message.schema, schema);
        let metadata = message.event.metadata().unwrap();
        assert_eq!(
            message.msg_id, metadata.event_id,
            "Nats-Msg-Id is the event id"
        );
        assert_eq!(metadata.aggregate_id, id);
        assert_eq!(metadata.aggregate_version, i as u64 + 1, "gapless versions");
        assert_eq!(metadata.event_uuid().unwrap().get_version_num(), 7);
        assert!(metadata.committed_at.is_some());
    }
    let AnyEvent::OrderCreated(created) = &stored[0].event else {
        panic!()
    };
    assert_eq!(created.order_number, order["orderNumber"].as_str().unwrap());
    assert_eq!(created.customer_name, "Alice");
    assert_eq!(created.total_minor, 9_998);
    assert_eq!(created.lines[0].sku, "KB-001");
    let AnyEvent::OrderStatusChanged(changed) = &stored[3].event else {
        panic!()
    };
    assert_eq!(changed.old_status(), OrderStatus::Confirmed);
    assert_eq!(changed.new_status(), OrderStatus::Processing);
    let AnyEvent::OrderStatusChanged(cancelled) = &stored[5].event else {
        panic!()
    };
    assert_eq!(cancelled.new_status(), OrderStatus::Cancelled);
    assert_eq!(cancelled.reason, "Cancelled by the customer");

    // The outbox is empty once everything is stored.
    assert_eq!(stack.outbox_pending().await, 0);
}

#[tokio::test]
async fn requests_succeed_while_nats_is_down_and_the_event_arrives_once_it_returns() {
    let mut stack = spawn_app().await;
    stack.seed_product("KB-001", 100).await;
    let alice = customer("Alice");
    stack.nats.kill();

    let order: Value = stack.create_order(&alice.token, "KB-001", 1).await;
    assert_eq!(stack.outbox_pending().await, 1);
    tokio::time::sleep(Duration::from_millis(500)).await;

    stack.nats.restart().await;
    let stored = wait_for_stream(&stack.app.jetstream(), "ORDERS", 1).await;
    // A duplicate could only come from the relay while it still has rows to publish.
    stack.outbox_drained().await;
    let stored_again = read_stream(&stack.app.jetstream(), "ORDERS").await;
    assert_eq!(stored.len(), 1);
    assert_eq!(stored_again.len(), 1, "the event is stored exactly once");
    let metadata = stored_again[0].event.metadata().unwrap();
    assert_eq!(metadata.aggregate_id, order["id"].as_str().unwrap());
    assert_eq!(stack.outbox_pending().await, 0);
}

#[tokio::test]
async fn a_stopping_replica_publishes_what_its_last_requests_committed() {
    // No relay runs: the events stay in the outbox, as when SIGTERM stopped the relay.
    let stack = spawn_app_with(Options::idle()).await;
    stack.seed_product("KB-001", 4_999).await;
    let alice = customer("Alice");
    let order = stack.create_order(&alice.token, "KB-001", 1).await;
    let confirm = format!("/api/orders/{}/confirm", order["id"].as_str().unwrap());
    stack.post(&alice.token, &confirm, None).await;
    let waiting = stack.outbox_pending().await;
    assert_eq!(waiting, 3, "created, confirmed, status changed");

    assert_eq!(stack.app.publish_remaining().await, 3);
    assert_eq!(stack.outbox_pending().await, 0);
    let stored = wait_for_stream(&stack.app.jetstream(), "ORDERS", 3).await;
    assert_eq!(stored.len(), 3);
}
