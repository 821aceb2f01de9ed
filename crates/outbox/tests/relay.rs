//! The relay on a real PostgreSQL and nats-server: in a batch in which some publishes fail, the
//! acknowledged rows are deleted, the failed ones stay for a later step, and the relay carries on
//! with the same connections; an ack that is slow to come holds up neither later events nor
//! their deletes; and rows held back behind the relay's own unfinished batches go out as soon as
//! those finish, never at the next poll.

use std::time::Duration;

use async_nats::jetstream::{self, stream};
use futures::StreamExt as _;
use orderflow_outbox::{
    OutboxMessage, Relay, RelaySettings, RelayWaker, StreamSettings, enqueue, enqueue_then_wake,
    pending_count,
};
use orderflow_test_support::{NatsServer, fresh_database};
use sqlx::PgPool;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

fn message(aggregate: &str, version: i64, subject: &str) -> OutboxMessage {
    OutboxMessage {
        event_id: Uuid::now_v7(),
        aggregate_id: aggregate.into(),
        aggregate_version: version,
        subject: subject.into(),
        schema_name: "things.v1.Changed".into(),
        payload: vec![version as u8],
    }
}

async fn create_stream(js: &jetstream::Context, name: &str, subjects: &str) {
    js.create_stream(stream::Config {
        name: name.into(),
        subjects: vec![subjects.into()],
        ..Default::default()
    })
    .await
    .unwrap();
}

/// A nats-server with the stream `THINGS` (`things.>`), and a database with the outbox.
async fn things_and_outbox() -> (NatsServer, async_nats::Client, PgPool) {
    let nats = NatsServer::start().await;
    let client = async_nats::connect(nats.url()).await.unwrap();
    create_stream(&jetstream::new(client.clone()), "THINGS", "things.>").await;
    let pool = fresh_database().await.pool().await;
    orderflow_outbox::migrate(&pool).await.unwrap();
    (nats, client, pool)
}

/// Runs a relay until the returned token is cancelled; the returned waker wakes it.
fn spawn_relay(
    pool: &PgPool,
    js: jetstream::Context,
    settings: RelaySettings,
) -> (RelayWaker, CancellationToken) {
    let waker = RelayWaker::default();
    let shutdown = CancellationToken::new();
    let relay = Relay::new(pool.clone(), js, settings).woken_by(waker.clone());
    tokio::spawn(relay.run(StreamSettings::default(), shutdown.clone()));
    (waker, shutdown)
}

/// Subjects of the stream's messages, in stream order.
async fn stored_subjects(js: &jetstream::Context) -> Vec<String> {
    let mut things = js.get_stream("THINGS").await.unwrap();
    let last = things.info().await.unwrap().state.last_sequence;
    let mut subjects = Vec::new();
    for sequence in 1..=last {
        let raw = things.get_raw_message(sequence).await.unwrap();
        subjects.push(raw.subject.to_string());
    }
    subjects
}

#[tokio::test]
async fn failed_publishes_stay_in_the_outbox_and_acknowledged_ones_are_deleted() {
    let (_nats, client, pool) = things_and_outbox().await;
    let js = jetstream::new(client);

    // No stream takes `nowhere.>`, so that publish is never acknowledged.
    let mut conn = pool.acquire().await.unwrap();
    enqueue(
        &mut conn,
        &[
            message("a", 1, "things.a.1"),
            message("b", 1, "things.b.1"),
            message("a", 2, "nowhere.a.2"),
            message("b", 2, "things.b.2"),
        ],
    )
    .await
    .unwrap();

    let relay = Relay::new(pool.clone(), js.clone(), RelaySettings::default());
    let published = relay.step().await.unwrap();
    assert_eq!(published, 3, "the three publishes JetStream acknowledged");
    assert_eq!(
        stored_subjects(&js).await,
        ["things.a.1", "things.b.1", "things.b.2"]
    );
    let left: Vec<String> = sqlx::query_scalar("SELECT subject FROM outbox")
        .fetch_all(&mut *conn)
        .await
        .unwrap();
    assert_eq!(left, ["nowhere.a.2"], "only the failed row stays");

    // The next step retries it, fails again, and still keeps it.
    assert!(relay.step().await.is_err(), "the only row fails again");
    assert_eq!(pending_count(&pool).await.unwrap(), 1);

    // Once it can be stored, it is, and the outbox is empty.
    create_stream(&js, "NOWHERE", "nowhere.>").await;
    assert_eq!(relay.drain().await.unwrap(), 1);
    assert_eq!(pending_count(&pool).await.unwrap(), 0);
    assert_eq!(
        stored_subjects(&js).await.len(),
        3,
        "nothing stored twice in THINGS"
    );
}

#[tokio::test]
async fn a_slow_ack_does_not_hold_up_later_events() {
    let (_nats, client, pool) = things_and_outbox().await;
    let js = jetstream::new(client.clone());
    // No stream takes `silent.>`, but this subscriber receives its publishes and never answers:
    // their acks stay outstanding for as long as the relay's request timeout.
    let mut silent = client.subscribe("silent.>").await.unwrap();
    let mut relay_js = jetstream::new(client.clone());
    relay_js.set_timeout(Duration::from_secs(60));
    let (waker, shutdown) = spawn_relay(&pool, relay_js, RelaySettings::default());

    let mut conn = pool.acquire().await.unwrap();
    enqueue_then_wake(&mut conn, &[message("a", 1, "silent.a.1")])
        .await
        .unwrap();
    waker.wake();
    let sent = tokio::time::timeout(Duration::from_secs(10), silent.next()).await;
    assert!(sent.is_ok(), "the relay sent the first event");

    // Its ack is outstanding; an event of another aggregate goes out anyway.
    enqueue_then_wake(&mut conn, &[message("b", 1, "things.b.1")])
        .await
        .unwrap();
    waker.wake();
    // Stored, and its delete committed on its own: only the first row, whose ack has not come,
    // is left.
    let finished = tokio::time::timeout(Duration::from_secs(10), async {
        while stored_subjects(&js).await.is_empty() || pending_count(&pool).await.unwrap() != 1 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    assert!(
        finished.is_ok(),
        "the second event waited for the first one's ack"
    );
    shutdown.cancel();
}

#[tokio::test]
async fn rows_held_back_behind_unfinished_batches_go_out_without_the_poll() {
    const AGGREGATES: usize = 8;
    const ROUNDS: i64 = 30;
    let (_nats, client, pool) = things_and_outbox().await;
    let js = jetstream::new(client);
    // The poll is an hour away: whatever is not sent on a wake or a finished batch stays.
    let settings = RelaySettings {
        poll_interval: Duration::from_secs(3600),
        ..RelaySettings::default()
    };
    let (waker, shutdown) = spawn_relay(&pool, js.clone(), settings);

    // Each round, every aggregate commits two versions back to back: the second is often
    // committed while the batch with the first waits for its ack, so it is held back. Nothing
    // else comes after it to wake the relay, so only the first batch's finish can send it.
    for round in 0..ROUNDS {
        let writers = (0..AGGREGATES).map(|a| {
            let (pool, waker) = (pool.clone(), waker.clone());
            tokio::spawn(async move {
                let mut conn = pool.acquire().await.unwrap();
                for v in [2 * round + 1, 2 * round + 2] {
                    let event = message(&format!("a{a}"), v, &format!("things.a{a}.{v}"));
                    enqueue_then_wake(&mut conn, &[event]).await.unwrap();
                    waker.wake();
                }
            })
        });
        for writer in writers {
            writer.await.unwrap();
        }
        let drained = tokio::time::timeout(Duration::from_secs(10), async {
            while pending_count(&pool).await.unwrap() > 0 {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        })
        .await;
        assert!(drained.is_ok(), "round {round}: rows waited for the poll");
    }
    shutdown.cancel();

    let subjects = stored_subjects(&js).await;
    assert_eq!(subjects.len(), AGGREGATES * 2 * ROUNDS as usize);
    for a in 0..AGGREGATES {
        let versions: Vec<i64> = subjects
            .iter()
            .filter_map(|s| s.strip_prefix(&format!("things.a{a}.")))
            .map(|v| v.parse().unwrap())
            .collect();
        assert_eq!(
            versions,
            (1..=2 * ROUNDS).collect::<Vec<_>>(),
            "a{a} in order"
        );
    }
}
