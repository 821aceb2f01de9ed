//! Writing events into the outbox inside the caller's transaction.

use sqlx::PgConnection;
use uuid::Uuid;

use crate::Error;

/// One event, encoded and addressed, ready to be written to the outbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxMessage {
    /// The event id; becomes the `Nats-Msg-Id` header so JetStream drops duplicates.
    pub event_id: Uuid,
    /// The aggregate the event belongs to; relays keep order per aggregate.
    pub aggregate_id: String,
    /// The aggregate version the event produced.
    pub aggregate_version: i64,
    /// The NATS subject to publish on.
    pub subject: String,
    /// The protobuf full name of the payload, sent as the schema header.
    pub schema_name: String,
    /// The protobuf-encoded event.
    pub payload: Vec<u8>,
}

impl OutboxMessage {
    /// Encodes a contract event into an outbox message. Fails when the event has no metadata
    /// or an id that cannot address a subject: a programming error the caller must surface.
    pub fn from_event<E: orderflow_events::Event>(
        event: &E,
    ) -> Result<Self, orderflow_events::Error> {
        let metadata = event
            .metadata()
            .ok_or(orderflow_events::Error::MissingMetadata {
                schema: E::SCHEMA_NAME,
            })?;
        Ok(Self {
            event_id: metadata.event_uuid()?,
            aggregate_id: metadata.aggregate_id.clone(),
            aggregate_version: i64::try_from(metadata.aggregate_version).unwrap_or(i64::MAX),
            subject: event.subject()?,
            schema_name: E::SCHEMA_NAME.to_owned(),
            payload: event.encode_to_vec(),
        })
    }
}

/// Writes `messages` to the outbox on `conn`, which must be inside the transaction that makes
/// the business change: both commit or neither does. Relays in every process are woken at the
/// commit through `NOTIFY`. Use this where the caller cannot run code after its commit (an inbox
/// handler, whose transaction the consumer commits); elsewhere prefer [`enqueue_then_wake`]:
/// notifying transactions commit one at a time database-wide.
pub async fn enqueue(conn: &mut PgConnection, messages: &[OutboxMessage]) -> Result<(), Error> {
    insert(conn, messages, true).await
}

/// Writes `messages` like [`enqueue`] but without `NOTIFY`, so the transaction keeps group
/// commit. The caller must call [`RelayWaker::wake`](crate::RelayWaker::wake) after its commit;
/// if it does not, the rows still go out at the relay's next poll (late, never lost).
pub async fn enqueue_then_wake(
    conn: &mut PgConnection,
    messages: &[OutboxMessage],
) -> Result<(), Error> {
    insert(conn, messages, false).await
}

/// One statement for the whole batch, with the notification folded in when asked for.
async fn insert(
    conn: &mut PgConnection,
    messages: &[OutboxMessage],
    notify: bool,
) -> Result<(), Error> {
    if messages.is_empty() {
        return Ok(());
    }
    let mut event_ids = Vec::with_capacity(messages.len());
    let mut aggregate_ids = Vec::with_capacity(messages.len());
    let mut versions = Vec::with_capacity(messages.len());
    let mut subjects = Vec::with_capacity(messages.len());
    let mut schemas = Vec::with_capacity(messages.len());
    let mut payloads = Vec::with_capacity(messages.len());
    for m in messages {
        event_ids.push(m.event_id);
        aggregate_ids.push(m.aggregate_id.as_str());
        versions.push(m.aggregate_version);
        subjects.push(m.subject.as_str());
        schemas.push(m.schema_name.as_str());
        payloads.push(m.payload.as_slice());
    }
    // WITH ORDINALITY keeps the caller's order in the identity column, which is publish order.
    // A data-modifying WITH runs exactly once, so the notification costs no extra round trip.
    let sql = if notify {
        "WITH inserted AS (
             INSERT INTO outbox (event_id, aggregate_id, aggregate_version, subject, schema_name, payload)
             SELECT e, a, v, s, n, p
             FROM unnest($1::uuid[], $2::text[], $3::bigint[], $4::text[], $5::text[], $6::bytea[])
                  WITH ORDINALITY AS t(e, a, v, s, n, p, ord)
             ORDER BY ord)
         SELECT pg_notify($7, '')"
    } else {
        "INSERT INTO outbox (event_id, aggregate_id, aggregate_version, subject, schema_name, payload)
         SELECT e, a, v, s, n, p
         FROM unnest($1::uuid[], $2::text[], $3::bigint[], $4::text[], $5::text[], $6::bytea[])
              WITH ORDINALITY AS t(e, a, v, s, n, p, ord)
         ORDER BY ord"
    };
    let mut query = sqlx::query(sql)
        .bind(&event_ids)
        .bind(&aggregate_ids)
        .bind(&versions)
        .bind(&subjects)
        .bind(&schemas)
        .bind(&payloads);
    if notify {
        query = query.bind(crate::NOTIFY_CHANNEL);
    }
    query.execute(conn).await?;
    Ok(())
}

/// How many events wait in the outbox (for `/metrics` and tests).
pub async fn pending_count(pool: &sqlx::PgPool) -> Result<i64, Error> {
    Ok(sqlx::query_scalar("SELECT count(*) FROM outbox")
        .fetch_one(pool)
        .await?)
}
