//! How fast the order-event consumer recovers what a crashed worker had fetched, on real
//! JetStream and PostgreSQL: the messages come back after the short `ack_wait`, not 30 s later;
//! a cancel applied meanwhile still wins over its own earlier confirmation; a batch that waits
//! longer than `ack_wait` (for a row lock) keeps its messages in progress, so no second worker
//! gets them; and binding updates an existing durable consumer to the new `ack_wait`.

use std::time::{Duration, Instant};

use crate::support::{
    Options, WAIT, cancelled, confirmed, eventually, fetch_one, publish, raw_consumer,
    spawn_app_with, spawn_with_consumer,
};
use async_nats::jetstream::consumer::pull;
use orderflow_inbox::{ACK_WAIT, Outcome};
use uuid::Uuid;

#[tokio::test]
async fn a_crashed_workers_messages_return_within_ack_wait_and_a_later_cancel_still_wins() {
    let (stack, consumer, js) = spawn_with_consumer(&[("KB-001", 10)]).await;
    let (customer, order) = (Uuid::new_v4(), Uuid::now_v7());

    // A worker fetches the confirmation and dies before applying it.
    let confirm = confirmed(customer, order, &[("KB-001", 2)]);
    publish(&js, &confirm).await;
    let crashed = fetch_one(&raw_consumer(&js).await, WAIT).await.unwrap();
    let fetched_at = Instant::now();
    drop(crashed);

    // The customer cancels; a live worker applies that at once.
    let cancel = cancelled(customer, order, &[("KB-001", 2)]);
    publish(&js, &cancel).await;
    assert_eq!(consumer.step(10, WAIT).await.unwrap(), [Outcome::Applied]);
    assert_eq!(
        stack.reservation_status(order).await.as_deref(),
        Some("cancelled")
    );

    // The confirmation comes back after ack_wait and reserves nothing: the cancel came first.
    let outcomes = loop {
        let outcomes = consumer.step(10, Duration::from_millis(200)).await.unwrap();
        if !outcomes.is_empty() {
            break outcomes;
        }
        assert!(fetched_at.elapsed() < ACK_WAIT * 3, "never redelivered");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let after = fetched_at.elapsed();
    assert_eq!(outcomes, [Outcome::Applied]);
    // Counted, for the operators' redelivery alert (deploy/monitoring/alerts.yml).
    let metrics = stack.metrics().await;
    assert!(
        metrics
            .lines()
            .any(|l| l.starts_with(r#"inbox_redeliveries_total{consumer="inventory-orders"}"#)),
        "{metrics}"
    );
    assert!(
        after >= ACK_WAIT - Duration::from_millis(100) && after < ACK_WAIT + Duration::from_secs(1),
        "redelivered after {after:?}"
    );
    assert_eq!(stack.level("KB-001").await, 10, "nothing reserved");
    assert_eq!(
        stack.reservation_status(order).await.as_deref(),
        Some("cancelled")
    );
}

#[tokio::test]
async fn a_batch_waiting_longer_than_ack_wait_keeps_its_messages() {
    let stack = spawn_app_with(Options::idle()).await;
    stack.create_product("KB-001", "10.00", 10).await;
    let slow = stack.app.bind_consumer().await.unwrap();
    let other = stack.app.bind_consumer().await.unwrap();
    let js = stack.app.jetstream();
    let order = Uuid::now_v7();
    let confirm = confirmed(Uuid::new_v4(), order, &[("KB-001", 3)]);
    publish(&js, &confirm).await;

    // Someone holds the product's row lock for twice the ack wait.
    let mut blocker = stack.app.pool.begin().await.unwrap();
    sqlx::query("SELECT 1 FROM products WHERE sku = 'KB-001' FOR UPDATE")
        .execute(&mut *blocker)
        .await
        .unwrap();
    let waiting = tokio::spawn(async move { slow.step(10, WAIT).await.unwrap() });
    // Until the slow worker has the message and waits for the lock.
    eventually("the slow worker to wait for the lock", || async {
        let waiting: i64 = sqlx::query_scalar("SELECT count(*) FROM pg_locks WHERE NOT granted")
            .fetch_one(&stack.pool)
            .await
            .unwrap();
        (waiting > 0).then_some(())
    })
    .await;
    let held = Instant::now();
    while held.elapsed() < ACK_WAIT * 2 {
        // A worker that got the message would wait for the lock too: give up on it then.
        let idle_fetch = Duration::from_millis(200);
        let step = tokio::time::timeout(Duration::from_secs(2), other.step(10, idle_fetch));
        let outcomes = step.await.expect("a second worker got the slow batch");
        assert!(
            outcomes.unwrap().is_empty(),
            "a second worker got the slow batch"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    blocker.commit().await.unwrap();

    assert_eq!(waiting.await.unwrap(), [Outcome::Applied]);
    assert_eq!(stack.level("KB-001").await, 7, "reserved once");
    assert_eq!(
        stack.reservation_status(order).await.as_deref(),
        Some("reserved")
    );
    assert!(
        other
            .step(10, Duration::from_millis(500))
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn binding_updates_an_existing_durable_to_the_short_ack_wait() {
    let stack = spawn_app_with(Options::idle()).await;
    let js = stack.app.jetstream();
    let name = orderflow_inventory::reservations::CONSUMER;
    // As an older release left it.
    js.get_stream(orderflow_events::streams::ORDERS)
        .await
        .unwrap()
        .create_consumer(pull::Config {
            durable_name: Some(name.to_owned()),
            filter_subjects: orderflow_inventory::reservations::subjects(),
            ack_policy: async_nats::jetstream::consumer::AckPolicy::Explicit,
            ack_wait: Duration::from_secs(30),
            max_deliver: -1,
            ..Default::default()
        })
        .await
        .unwrap();
    stack.app.bind_consumer().await.unwrap();
    let mut consumer = raw_consumer(&js).await;
    assert_eq!(consumer.info().await.unwrap().config.ack_wait, ACK_WAIT);
}
