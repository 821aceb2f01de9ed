//! The inbox's batch path against real JetStream and PostgreSQL: a batch mixing valid events, a
//! duplicate and a permanently failing event commits the valid ones in one transaction; a
//! crash between a batch's commit and its acks changes nothing on redelivery; and concurrent
//! batch workers (plus REST adjustments) hitting the same products in different orders never
//! deadlock and leave exact stock.

use std::time::Duration;

use crate::support::{
    Options, TestApp, WAIT, admin, assert_nothing_redelivered, cancelled, confirmed, event_id,
    fetch_exactly, publish, publish_as, publish_invalid_order_id, raw_consumer, spawn_app_with,
    spawn_with_consumer, step_until,
};
use async_nats::jetstream::AckKind;
use orderflow_inbox::Outcome;
use uuid::Uuid;

/// `(event id, transaction start time)` of every inbox row, as text.
async fn inbox_rows(stack: &TestApp) -> Vec<(String, String)> {
    sqlx::query_as("SELECT event_id::text, processed_at::text FROM inbox ORDER BY event_id")
        .fetch_all(&stack.app.pool)
        .await
        .unwrap()
}

#[tokio::test]
async fn a_batch_commits_its_valid_events_and_terminates_only_the_bad_one() {
    let (stack, consumer, js) = spawn_with_consumer(&[("KB-001", 5), ("MS-002", 5)]).await;
    let customer = Uuid::new_v4();

    let first = confirmed(customer, Uuid::now_v7(), &[("KB-001", 2)]);
    publish(&js, &first).await;
    // The same event stored a second time (another message id): a duplicate in the same batch.
    publish_as(&js, &first, &format!("{}-again", event_id(&first))).await;
    // Decodes, but names no valid order: the handler refuses it permanently, after the batch
    // has already written its inbox rows.
    let bad = confirmed(customer, Uuid::now_v7(), &[("MS-002", 1)]);
    publish_invalid_order_id(&js, &bad, &event_id(&bad)).await;
    let second = confirmed(customer, Uuid::now_v7(), &[("MS-002", 3), ("KB-001", 1)]);
    publish(&js, &second).await;

    let messages = fetch_exactly(&raw_consumer(&js).await, 4, WAIT).await;
    assert_eq!(
        consumer.apply_batch(&messages).await,
        [
            Outcome::Applied,
            Outcome::Duplicate,
            Outcome::Rejected,
            Outcome::Applied
        ]
    );
    assert_eq!(
        stack.level("KB-001").await,
        2,
        "5 - 2 - 1: the duplicate held nothing"
    );
    assert_eq!(stack.level("MS-002").await, 2);
    let rows = inbox_rows(&stack).await;
    let mut want = vec![event_id(&first), event_id(&second)];
    want.sort();
    assert_eq!(
        rows.iter().map(|(id, _)| id.clone()).collect::<Vec<_>>(),
        want,
        "the rejected event left no inbox row behind"
    );
    assert_eq!(
        rows[0].1, rows[1].1,
        "both were recorded by one transaction"
    );

    // The crash: the batch committed, its acks never happened. The redelivered batch is all
    // duplicates and changes nothing (the bad one is simply rejected again).
    for m in &messages {
        m.ack_with(AckKind::Nak(None)).await.unwrap();
    }
    drop(messages);
    let outcomes = step_until(&consumer, 4).await;
    assert_eq!(
        outcomes,
        [
            Outcome::Duplicate,
            Outcome::Duplicate,
            Outcome::Rejected,
            Outcome::Duplicate
        ]
    );
    assert_eq!(stack.level("KB-001").await, 2);
    assert_eq!(stack.level("MS-002").await, 2);
    assert_eq!(inbox_rows(&stack).await, rows);
    assert_nothing_redelivered(
        &consumer,
        "acked and terminated messages are not redelivered",
    )
    .await;
    assert_eq!(consumer.conflicts(), 0);
}

const SKUS: [&str; 3] = ["AA-001", "BB-002", "CC-003"];
const ORDERS: usize = 240;
const WORKERS: usize = 4;
const STOCK: i64 = 10_000;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_batch_workers_on_shared_products_never_deadlock_and_stock_is_exact() {
    let stack = spawn_app_with(Options::idle()).await;
    for sku in SKUS {
        stack.create_product(sku, "1.00", STOCK).await;
    }
    let js = stack.app.jetstream();
    let customer = Uuid::new_v4();
    // Orders of one, two or three products listed in rotating orders, so that consecutive
    // events of a batch touch the products in every order; every third order is cancelled,
    // its cancel published soon after its confirm (often into another worker's batch).
    let mut published = 0;
    let mut cancelled_orders = Vec::new();
    let mut seed = 0x2545_f491_u32;
    for i in 0..ORDERS {
        let order = Uuid::now_v7();
        // xorshift: a fixed pseudo-random first product, so batches do not all start alike.
        seed ^= seed << 13;
        seed ^= seed >> 17;
        seed ^= seed << 5;
        let first = seed as usize % 3;
        let lines: Vec<(&str, u32)> = (0..=i % 3)
            .map(|k| (SKUS[(first + k) % 3], 1 + (i % 4) as u32))
            .collect();
        let confirm = confirmed(customer, order, &lines);
        publish(&js, &confirm).await;
        published += 1;
        if i % 3 == 1 {
            let cancel = cancelled(customer, order, &lines);
            publish(&js, &cancel).await;
            published += 1;
            cancelled_orders.push(order);
        }
    }

    // Several batch workers on the one durable consumer, as several replicas would run them,
    // while an admin adjusts the same products over REST.
    let mut consumers = Vec::new();
    for _ in 0..WORKERS {
        consumers.push(std::sync::Arc::new(
            stack.app.bind_consumer().await.unwrap(),
        ));
    }
    let done = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let workers: Vec<_> = consumers
        .iter()
        .map(|consumer| {
            let (consumer, done) = (consumer.clone(), done.clone());
            tokio::spawn(async move {
                let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
                while done.load(std::sync::atomic::Ordering::SeqCst) < published {
                    assert!(tokio::time::Instant::now() < deadline, "workers stalled");
                    let outcomes = consumer.step(16, Duration::from_millis(200)).await.unwrap();
                    assert!(
                        outcomes.iter().all(|o| *o == Outcome::Applied),
                        "{outcomes:?}"
                    );
                    done.fetch_add(outcomes.len(), std::sync::atomic::Ordering::SeqCst);
                }
            })
        })
        .collect();
    let token = admin().token;
    let mut adjusted = [0i64; 3];
    for round in 0..30 {
        let s = round % 3;
        let response = stack
            .post(
                &token,
                &format!("/api/products/{}/stock-adjustments", SKUS[s]),
                serde_json::json!({ "delta": 1, "reason": "recount" }),
            )
            .await;
        assert!(response.status().is_success(), "{}", response.status());
        adjusted[s] += 1;
    }
    for w in workers {
        w.await.unwrap();
    }
    let conflicts: u64 = consumers.iter().map(|c| c.conflicts()).sum();
    assert_eq!(conflicts, 0, "no batch hit a deadlock");

    // Exact stock: every unit is either available or held by a reserved order's lines.
    let statuses: Vec<(Uuid, String)> =
        sqlx::query_as("SELECT order_id, status FROM order_reservations")
            .fetch_all(&stack.app.pool)
            .await
            .unwrap();
    assert_eq!(statuses.len(), ORDERS);
    for (order, status) in &statuses {
        let was_cancelled = cancelled_orders.contains(order);
        let ok = if was_cancelled {
            status == "released" || status == "cancelled"
        } else {
            status == "reserved"
        };
        assert!(ok, "order {order}: {status} (cancelled: {was_cancelled})");
    }
    for (s, sku) in SKUS.iter().enumerate() {
        let (level, reserved, held): (i64, i64, i64) = sqlx::query_as(
            "SELECT p.stock_level, p.reserved,
                    COALESCE((SELECT sum(l.quantity) FROM reservation_lines l
                              JOIN order_reservations o USING (order_id)
                              WHERE l.product_id = p.id AND o.status = 'reserved'), 0)::bigint
             FROM products p WHERE p.sku = $1",
        )
        .bind(sku)
        .fetch_one(&stack.app.pool)
        .await
        .unwrap();
        assert_eq!(
            reserved, held,
            "{sku}: reserved units match reserved orders"
        );
        assert_eq!(level + reserved, STOCK + adjusted[s], "{sku}: no unit lost");
    }
}
