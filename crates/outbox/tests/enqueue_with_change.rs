//! `enqueue_with_change` on a real PostgreSQL: the events are written exactly when the change
//! applies, in the caller's order, and not at all when it does not; `enqueue_with_change_and`
//! also writes its record exactly then, and a failing record undoes everything.

use orderflow_outbox::{OutboxMessage, enqueue_with_change, enqueue_with_change_and};
use orderflow_test_support::fresh_database;
use uuid::Uuid;

fn message(version: i64) -> OutboxMessage {
    OutboxMessage {
        event_id: Uuid::now_v7(),
        aggregate_id: "thing-1".into(),
        aggregate_version: version,
        subject: "things.v1.thing-1.changed".into(),
        schema_name: "things.v1.Changed".into(),
        payload: vec![version as u8],
    }
}

/// Moves thing 1 from `from` to `from + 1` and writes `events` with it, if it is still at `from`.
async fn advance(conn: &mut sqlx::PgConnection, from: i64, events: &[OutboxMessage]) -> bool {
    enqueue_with_change(
        conn,
        "UPDATE things SET version = $8 WHERE id = 1 AND version = $7 RETURNING id",
        |query| query.bind(from).bind(from + 1),
        events,
    )
    .await
    .unwrap()
}

async fn outbox(conn: &mut sqlx::PgConnection) -> Vec<(Uuid, i64)> {
    sqlx::query_as("SELECT event_id, aggregate_version FROM outbox ORDER BY id")
        .fetch_all(conn)
        .await
        .unwrap()
}

#[tokio::test]
async fn events_are_written_exactly_when_the_change_applies() {
    let pool = fresh_database().await.pool().await;
    orderflow_outbox::migrate(&pool).await.unwrap();
    let mut conn = pool.acquire().await.unwrap();
    sqlx::query("CREATE TABLE things (id INT PRIMARY KEY, version BIGINT NOT NULL)")
        .execute(&mut *conn)
        .await
        .unwrap();
    sqlx::query("INSERT INTO things VALUES (1, 1)")
        .execute(&mut *conn)
        .await
        .unwrap();

    let first = [message(2), message(3)];
    assert!(
        advance(&mut conn, 1, &first).await,
        "thing 1 was at version 1"
    );
    let written = outbox(&mut conn).await;
    assert_eq!(
        written,
        vec![(first[0].event_id, 2), (first[1].event_id, 3)],
        "both events, in the caller's order"
    );

    // A writer that read version 1 lost the race: nothing changes and nothing is written.
    assert!(!advance(&mut conn, 1, &[message(2)]).await);
    assert_eq!(outbox(&mut conn).await, written);
    let version: i64 = sqlx::query_scalar("SELECT version FROM things WHERE id = 1")
        .fetch_one(&mut *conn)
        .await
        .unwrap();
    assert_eq!(version, 2);

    // A failing statement writes neither the change nor the events: the same event id twice
    // breaks the outbox's unique key, and the change rolls back with it.
    let duplicate = message(3);
    assert!(
        enqueue_with_change(
            &mut conn,
            "UPDATE things SET version = $8 WHERE id = 1 AND version = $7 RETURNING id",
            |query| query.bind(2_i64).bind(3_i64),
            &[duplicate.clone(), duplicate],
        )
        .await
        .is_err()
    );
    let version: i64 = sqlx::query_scalar("SELECT version FROM things WHERE id = 1")
        .fetch_one(&mut *conn)
        .await
        .unwrap();
    assert_eq!(version, 2, "the change rolled back with the failed insert");
    assert_eq!(outbox(&mut conn).await, written);
}

#[tokio::test]
async fn the_record_commits_with_the_change_or_nothing_does() {
    let pool = fresh_database().await.pool().await;
    orderflow_outbox::migrate(&pool).await.unwrap();
    let mut conn = pool.acquire().await.unwrap();
    for ddl in [
        "CREATE TABLE things (id INT PRIMARY KEY, version BIGINT NOT NULL)",
        "CREATE TABLE receipts (key TEXT PRIMARY KEY, thing INT NOT NULL, version BIGINT NOT NULL)",
        "INSERT INTO things VALUES (1, 1)",
    ] {
        sqlx::query(ddl).execute(&mut *conn).await.unwrap();
    }
    let advance_recorded = async |conn: &mut sqlx::PgConnection, from: i64, key: &str| {
        enqueue_with_change_and(
            conn,
            "UPDATE things SET version = $8 WHERE id = 1 AND version = $7 RETURNING id, version",
            "INSERT INTO receipts (key, thing, version) SELECT $9, id, version FROM change",
            |query| query.bind(from).bind(from + 1).bind(key.to_owned()),
            &[],
        )
        .await
    };
    assert!(advance_recorded(&mut conn, 1, "k1").await.unwrap());
    // Lost race: neither change nor record.
    assert!(!advance_recorded(&mut conn, 1, "k2").await.unwrap());
    // The record fails (key taken): the change rolls back with it.
    assert!(advance_recorded(&mut conn, 2, "k1").await.is_err());
    let version: i64 = sqlx::query_scalar("SELECT version FROM things WHERE id = 1")
        .fetch_one(&mut *conn)
        .await
        .unwrap();
    assert_eq!(version, 2);
    let receipts: Vec<(String, i32, i64)> = sqlx::query_as("SELECT * FROM receipts")
        .fetch_all(&mut *conn)
        .await
        .unwrap();
    assert_eq!(receipts, vec![("k1".to_owned(), 1, 2)]);
}
