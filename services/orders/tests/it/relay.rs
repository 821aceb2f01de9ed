//! The relay under faults: killed mid-batch and restarted loses nothing and stores nothing twice;
//! two relays at once keep every order's versions in order, also while writers commit; it wakes at
//! commit, not at its poll.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use orderflow_orders::domain::Command;
use orderflow_orders::service::{Actor, LineRequest, OrderService};
use orderflow_outbox::{OutboxMessage, Relay, RelaySettings, RelayWaker, StreamSettings};
use orderflow_test_support::jetstream::{stream_len, stream_reaches};
use orderflow_test_support::{eventually, holds_within};

use crate::support::{Options, Stored, TestApp, read_stream, spawn_app_with};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

/// Creates an order and walks it through confirm → process → ship → deliver. Returns the number
/// of events written: created, confirmed and status changed, then a status change per step.
async fn order_through_its_life(
    service: &OrderService,
    actor: &Actor,
    line: &[LineRequest; 1],
) -> usize {
    let (order, _) = service.create(actor, line, None).await.unwrap();
    for command in [
        Command::Confirm,
        Command::StartProcessing,
        Command::Ship,
        Command::Deliver,
    ] {
        service
            .transition(actor, order.id, &command, None)
            .await
            .unwrap();
    }
    1 + 2 + 1 + 1 + 1
}

/// Writes `orders` orders through their lives with no relay running, so the outbox fills up.
/// Returns the number of events written.
async fn fill_outbox(stack: &TestApp, orders: usize) -> usize {
    let (actor, line) = stack.seed_admin_order("Load").await;
    let service = stack.app.orders();
    let mut events = 0;
    for _ in 0..orders {
        events += order_through_its_life(&service, &actor, &line).await;
    }
    events
}

/// Asserts the stream holds each event once and every aggregate's versions are 1, 2, 3, …
fn assert_exactly_once_in_order(stored: &[Stored], expected: usize) {
    let ids: HashSet<&str> = stored.iter().map(|s| s.msg_id.as_str()).collect();
    assert_eq!(ids.len(), stored.len(), "no event stored twice");
    assert_eq!(stored.len(), expected, "no event lost");
    let mut next: HashMap<String, u64> = HashMap::new();
    for s in stored {
        let m = s.event.metadata().unwrap();
        let want = next.entry(m.aggregate_id.clone()).or_insert(1);
        assert_eq!(
            m.aggregate_version, *want,
            "order {} out of order",
            m.aggregate_id
        );
        *want += 1;
    }
}

#[tokio::test]
async fn relay_killed_mid_batch_and_restarted_loses_nothing_and_stores_nothing_twice() {
    let stack = spawn_app_with(Options::idle()).await;
    let expected = fill_outbox(&stack, 150).await;
    let settings = RelaySettings {
        batch_size: 200,
        ..RelaySettings::default()
    };
    let mut kills = 0;
    // Kill the relay task at growing offsets until it has drained everything.
    for delay_ms in (1..).map(|i| i * 7) {
        let relay = relay(&stack, settings.clone());
        let task = tokio::spawn(relay.run(StreamSettings::default(), CancellationToken::new()));
        tokio::time::sleep(Duration::from_millis(delay_ms)).await;
        task.abort();
        let _ = task.await;
        kills += 1;
        if stack.outbox_pending().await == 0 || kills > 200 {
            break;
        }
    }
    assert!(
        kills > 1,
        "the relay was killed at least once before finishing"
    );
    relay(&stack, settings).drain().await.unwrap();
    let stored = read_stream(&stack.app.jetstream(), "ORDERS").await;
    assert_exactly_once_in_order(&stored, expected);
}

#[tokio::test]
async fn two_relays_at_once_keep_per_order_versions_in_order() {
    two_relays_at_once(false).await;
}

#[tokio::test]
async fn two_pipelined_relays_at_once_keep_per_order_versions_in_order() {
    two_relays_at_once(true).await;
}

/// Two relays drain the same outbox at once, with small batches so they interleave on the same
/// orders; `pipelined` overlaps each relay's commit with its next batch as `Relay::run` does.
async fn two_relays_at_once(pipelined: bool) {
    let stack = spawn_app_with(Options::idle()).await;
    let expected = fill_outbox(&stack, 120).await;
    let settings = RelaySettings {
        batch_size: 7,
        ..RelaySettings::default()
    };
    let a = relay(&stack, settings.clone());
    let b = relay(&stack, settings);
    let (ra, rb) = if pipelined {
        tokio::join!(a.drain_pipelined(), b.drain_pipelined())
    } else {
        tokio::join!(a.drain(), b.drain())
    };
    let (na, nb) = (ra.unwrap(), rb.unwrap());
    assert!(na > 0 && nb > 0, "both relays did work: {na} and {nb}");
    // A relay's drain ends when a step publishes nothing, which happens while the other relay
    // holds the remaining rows; whatever is left is picked up by the next step, as in `run`.
    let rest = a.drain().await.unwrap();
    assert_eq!(na + nb + rest, expected);
    assert_eq!(stack.outbox_pending().await, 0);
    let stored = read_stream(&stack.app.jetstream(), "ORDERS").await;
    assert_exactly_once_in_order(&stored, expected);
}

/// Runs a relay that polls only once an hour, so anything it publishes within the test's wait
/// was delivered by a wake-up: the writer's `RelayWaker` or a `NOTIFY` at commit.
async fn start_relay_without_polling(stack: &TestApp, waker: RelayWaker) -> CancellationToken {
    let settings = RelaySettings {
        poll_interval: Duration::from_secs(3600),
        ..RelaySettings::default()
    };
    let relay = relay(stack, settings).woken_by(waker);
    let shutdown = CancellationToken::new();
    tokio::spawn(relay.run(StreamSettings::default(), shutdown.clone()));
    // The relay listens before its first drain; wait for its LISTEN so a NOTIFY cannot be missed.
    eventually("the relay to listen", || async {
        let listening: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM pg_stat_activity WHERE query LIKE 'LISTEN%orderflow_outbox%'",
        )
        .fetch_one(&stack.pool)
        .await
        .unwrap();
        (listening > 0).then_some(())
    })
    .await;
    shutdown
}

/// Whether the ORDERS stream holds `count` events within 5 s (far below the hour-long poll).
async fn published_soon(stack: &TestApp, count: usize) -> bool {
    stream_reaches(
        &stack.app.jetstream(),
        "ORDERS",
        count,
        Duration::from_secs(5),
    )
    .await
}

/// A relay on the test's database and NATS.
fn relay(stack: &TestApp, settings: RelaySettings) -> Relay {
    Relay::new(stack.pool.clone(), stack.app.jetstream(), settings)
}

#[tokio::test]
async fn the_relay_wakes_at_commit_for_both_kinds_of_writers() {
    let stack = spawn_app_with(Options::idle()).await;
    let (actor, line) = stack.seed_admin_order("Load").await;

    // Request handlers: rows written without NOTIFY, relay woken in-process after the commit.
    let waker = RelayWaker::default();
    let relay = start_relay_without_polling(&stack, waker.clone()).await;
    let service = OrderService::new(stack.app.connections.clone(), waker);
    service.create(&actor, &line, None).await.unwrap();
    assert!(published_soon(&stack, 1).await, "woken by the RelayWaker");
    relay.cancel();

    // A row written while no relay runs goes out in the next relay's first drain.
    // Its waker is held by no relay, so this writer wakes nothing.
    let silent = OrderService::new(stack.app.connections.clone(), RelayWaker::default());
    silent.create(&actor, &line, None).await.unwrap();
    let relay = start_relay_without_polling(&stack, RelayWaker::default()).await;
    assert!(published_soon(&stack, 2).await, "first drain at start");
    // Let that drain finish its last (empty) step; the relay then waits for a wake-up.
    tokio::time::sleep(Duration::from_secs(1)).await;

    // A writer that never wakes the relay is published only at the next poll: the control that
    // shows this relay really does not poll during the test.
    silent.create(&actor, &line, None).await.unwrap();
    assert!(
        !published_soon(&stack, 3).await,
        "without a wake nothing tells the relay (this is what the poll is for)"
    );

    // Inbox handlers cannot act after their commit: `enqueue` notifies inside the statement.
    let mut tx = stack.app.pool.begin().await.unwrap();
    let stored = read_stream(&stack.app.jetstream(), "ORDERS").await;
    let message = OutboxMessage {
        event_id: Uuid::now_v7(),
        aggregate_id: "notify-test".into(),
        aggregate_version: 1,
        subject: stored[0].subject.clone(),
        schema_name: stored[0].schema.clone(),
        payload: Vec::new(),
    };
    orderflow_outbox::enqueue(&mut tx, &[message])
        .await
        .unwrap();
    tx.commit().await.unwrap();
    assert!(
        published_soon(&stack, 4).await,
        "the NOTIFY woke the relay, which also took the silent writer's row"
    );
    relay.cancel();
}

/// The benchmark's situation with a second replica: writers commit while two running relays
/// claim, delete and publish in overlapping batches. Every event is stored once, in order.
#[tokio::test]
async fn two_running_relays_under_concurrent_writers_store_every_event_once_in_order() {
    let stack = spawn_app_with(Options::idle()).await;
    let (actor, line) = stack.seed_admin_order("Load").await;
    let waker = RelayWaker::default();
    let settings = RelaySettings {
        batch_size: 5,
        ..RelaySettings::default()
    };
    let shutdown = CancellationToken::new();
    for _ in 0..2 {
        let relay = relay(&stack, settings.clone()).woken_by(waker.clone());
        tokio::spawn(relay.run(StreamSettings::default(), shutdown.clone()));
    }
    let service = OrderService::new(stack.app.connections.clone(), waker);
    let writers: Vec<_> = (0..8)
        .map(|_| {
            let (service, actor, line) = (service.clone(), actor.clone(), line.clone());
            tokio::spawn(async move {
                let mut events = 0;
                for _ in 0..25 {
                    events += order_through_its_life(&service, &actor, &line).await;
                }
                events
            })
        })
        .collect();
    let mut expected = 0;
    for writer in writers {
        expected += writer.await.unwrap();
    }
    // Done when every event is stored and every relay committed its deletes.
    let js = stack.app.jetstream();
    let done = holds_within(Duration::from_secs(30), || async {
        stream_len(&js, "ORDERS").await >= expected && stack.outbox_pending().await == 0
    })
    .await;
    let (stored, pending) = (
        stream_len(&js, "ORDERS").await,
        stack.outbox_pending().await,
    );
    assert!(
        done,
        "{stored} of {expected} events stored, {pending} rows still in the outbox"
    );
    shutdown.cancel();
    let stored = read_stream(&stack.app.jetstream(), "ORDERS").await;
    assert_exactly_once_in_order(&stored, expected);
}
