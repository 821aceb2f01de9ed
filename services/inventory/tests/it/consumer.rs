//! The order-event consumer against real JetStream and PostgreSQL, driven step by step:
//! reservation and release, rejection, a crash between commit and ack, and malformed messages.

use crate::support::{
    Options, WAIT, assert_nothing_redelivered, cancelled, confirmed, fetch_one, publish,
    publish_invalid_order_id, publish_raw, raw_consumer, read_stream, spawn_app_with,
    spawn_with_consumer, step_until, stock_events,
};
use async_nats::jetstream::AckKind;
use orderflow_events::AnyEvent;
use orderflow_events::orders::v1::OrderConfirmed;
use orderflow_events::streams::INVENTORY;
use orderflow_inbox::Outcome;
use orderflow_outbox::{Relay, RelaySettings};
use uuid::Uuid;

#[tokio::test]
async fn crash_between_commit_and_ack_changes_nothing_on_redelivery() {
    let (stack, consumer, js) = spawn_with_consumer(&[("KB-001", 5)]).await;
    let raw = raw_consumer(&js).await;
    let (customer, order) = (Uuid::new_v4(), Uuid::now_v7());

    let confirm = confirmed(customer, order, &[("KB-001", 2)]);
    publish(&js, &confirm).await;
    let message = fetch_one(&raw, WAIT).await.expect("the confirmation");
    assert_eq!(consumer.apply(&message).await, Outcome::Applied);
    assert_eq!(stack.level("KB-001").await, 3);
    // The crash: the transaction committed, the ack never happened. A restarted consumer gets
    // the message again once ack_wait passes; the nak makes that happen now.
    message.ack_with(AckKind::Nak(None)).await.unwrap();
    drop(message);
    assert_eq!(consumer.step(10, WAIT).await.unwrap(), [Outcome::Duplicate]);
    assert_eq!(
        stack.level("KB-001").await,
        3,
        "the redelivery reserved nothing more"
    );

    let cancel = cancelled(customer, order, &[("KB-001", 2)]);
    publish(&js, &cancel).await;
    let message = fetch_one(&raw, WAIT).await.expect("the cancellation");
    assert_eq!(consumer.apply(&message).await, Outcome::Applied);
    message.ack_with(AckKind::Nak(None)).await.unwrap();
    assert_eq!(consumer.step(10, WAIT).await.unwrap(), [Outcome::Duplicate]);
    assert_eq!(stack.level("KB-001").await, 5, "released exactly once");

    // A second cancel event for the order (a new event id) and a cancel of an order never
    // reserved release nothing.
    let again = cancelled(customer, order, &[("KB-001", 2)]);
    publish(&js, &again).await;
    let stranger = cancelled(customer, Uuid::now_v7(), &[("KB-001", 4)]);
    publish(&js, &stranger).await;
    let outcomes = consumer.step(10, WAIT).await.unwrap();
    assert_eq!(outcomes, [Outcome::Applied, Outcome::Applied]);
    assert_eq!(stack.level("KB-001").await, 5);
    assert_eq!(
        stack.reservation_status(order).await.as_deref(),
        Some("released")
    );

    // Events: created with 5, reserved 5 -> 3, released 3 -> 5; versions gapless.
    Relay::new(stack.app.pool.clone(), js.clone(), RelaySettings::default())
        .drain()
        .await
        .unwrap();
    let levels = stock_events(&js, |e| {
        let version = e.metadata.unwrap().aggregate_version;
        Some((e.old_level, e.new_level, e.reason, e.order_id, version))
    })
    .await;
    let o = order.to_string();
    assert_eq!(
        levels,
        [
            (0, 5, "initial stock".to_owned(), String::new(), 2),
            (5, 3, "reserved".to_owned(), o.clone(), 3),
            (3, 5, "released".to_owned(), o, 4),
        ]
    );
}

#[tokio::test]
async fn short_stock_reserves_nothing_and_emits_a_rejection() {
    let (stack, consumer, js) = spawn_with_consumer(&[("KB-001", 1), ("MS-002", 9)]).await;
    let (customer, order) = (Uuid::new_v4(), Uuid::now_v7());
    let confirm = confirmed(
        customer,
        order,
        &[("MS-002", 2), ("KB-001", 3), ("NO-SUCH", 1)],
    );
    publish(&js, &confirm).await;
    assert_eq!(consumer.step(10, WAIT).await.unwrap(), [Outcome::Applied]);
    assert_eq!(stack.level("KB-001").await, 1);
    assert_eq!(stack.level("MS-002").await, 9, "all or nothing");
    assert_eq!(
        stack.reservation_status(order).await.as_deref(),
        Some("rejected")
    );

    // The orders service answers the rejection with a cancel; it must release nothing.
    let cancel = cancelled(customer, order, &[("MS-002", 2), ("KB-001", 3)]);
    publish(&js, &cancel).await;
    assert_eq!(consumer.step(10, WAIT).await.unwrap(), [Outcome::Applied]);
    assert_eq!(stack.level("MS-002").await, 9);

    Relay::new(stack.app.pool.clone(), js.clone(), RelaySettings::default())
        .drain()
        .await
        .unwrap();
    let stored = read_stream(&js, INVENTORY).await;
    let rejection = stored
        .iter()
        .find_map(|s| match &s.event {
            AnyEvent::ReservationRejected(r) => Some((s.subject.clone(), r.clone())),
            _ => None,
        })
        .expect("a rejection");
    assert_eq!(
        rejection.0,
        format!("inventory.v1.reservations.{customer}.{order}.rejected")
    );
    let r = rejection.1;
    assert_eq!(
        r.reason,
        "Out of stock: KB-001 (requested 3, available 1); Unknown product: NO-SUCH"
    );
    assert_eq!(r.shortages.len(), 2);
    assert_eq!((r.shortages[0].requested, r.shortages[0].available), (3, 1));
    assert_eq!(r.metadata.unwrap().aggregate_id, order.to_string());
}

#[tokio::test]
async fn malformed_messages_are_terminated_and_the_next_valid_one_applies() {
    // Alone: `inbox_consumer_pending` is process-wide, and other tests' consumers share its name.
    let stack = spawn_app_with(Options::idle().alone()).await;
    let consumer = stack.with_consumer(&[("KB-001", 5)]).await;
    let js = stack.app.jetstream();
    let (customer, order) = (Uuid::new_v4(), Uuid::now_v7());
    let subject = orderflow_events::subjects::order_event(
        customer,
        order,
        orderflow_events::subjects::OrderEventKind::Confirmed,
    );
    let schema = "orderflow.orders.v1.OrderConfirmed";
    publish_raw(
        &js,
        subject.clone(),
        schema,
        vec![0xff, 0xff, 0xff],
        "garbage-1",
    )
    .await;
    // A header value with a bare `\r`, which async-nats before 0.52 panicked on: every fetch
    // of it would have killed the consumer's connection, a poison message for good.
    let headers = "NATS/1.0\r\nOrderflow-Schema: a\rb\r\nNats-Msg-Id: broken-1\r\n\r\n";
    stack.nats.publish_protocol(&subject, headers, b"").await;
    // Decodes, but names no valid order: the handler refuses it permanently.
    let bad = confirmed(customer, order, &[("KB-001", 1)]);
    publish_invalid_order_id(&js, &bad, "bad-1").await;
    let good: OrderConfirmed = confirmed(customer, order, &[("KB-001", 2)]);
    publish(&js, &good).await;

    let outcomes = step_until(&consumer, 4).await;
    assert_eq!(
        outcomes,
        [
            Outcome::Rejected,
            Outcome::Rejected,
            Outcome::Rejected,
            Outcome::Applied
        ]
    );
    assert_eq!(stack.level("KB-001").await, 3);
    assert_nothing_redelivered(&consumer, "terminated messages are not redelivered").await;
    let metrics = stack.metrics().await;
    assert!(
        metrics.contains(r#"inbox_messages_total{consumer="inventory-orders",outcome="Rejected"}"#),
        "{metrics}"
    );
    assert!(metrics.contains(r#"inbox_consumer_pending{consumer="inventory-orders"} 0"#));
}

#[tokio::test]
async fn concurrent_reservations_of_the_last_units_never_overdraw() {
    // Two replicas' consumers applying different orders at the same moment: the row locks and
    // the conditional UPDATE let exactly one of each pair through.
    use orderflow_inbox::Handler as _;
    use orderflow_inventory::reservations::StockReservations;
    let stack = spawn_app_with(Options::idle()).await;
    stack.create_product("KB-001", "10.00", 3).await;
    stack.create_product("MS-002", "10.00", 3).await;
    let customer = Uuid::new_v4();
    let attempts = (0..6).map(|i| {
        let pool = stack.app.pool.clone();
        // Lines in both sku orders, so a lock-order bug would deadlock here.
        let lines: &[(&str, u32)] = if i % 2 == 0 {
            &[("KB-001", 1), ("MS-002", 1)]
        } else {
            &[("MS-002", 1), ("KB-001", 1)]
        };
        let event = AnyEvent::OrderConfirmed(confirmed(customer, Uuid::now_v7(), lines));
        async move {
            let mut tx = pool.begin().await.unwrap();
            StockReservations.handle(&mut tx, &event).await.unwrap();
            tx.commit().await.unwrap();
        }
    });
    futures::future::join_all(attempts).await;
    assert_eq!(stack.level("KB-001").await, 0);
    assert_eq!(stack.level("MS-002").await, 0);
    let statuses: Vec<String> =
        sqlx::query_scalar("SELECT status FROM order_reservations ORDER BY status")
            .fetch_all(&stack.app.pool)
            .await
            .unwrap();
    assert_eq!(
        statuses,
        [
            "rejected", "rejected", "rejected", "reserved", "reserved", "reserved"
        ]
    );
}
