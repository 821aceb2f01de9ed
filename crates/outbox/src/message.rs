//! Writing events into the outbox inside the caller's transaction, or in the very statement
//! that makes the caller's change. Each enqueue stores the current span's trace context with its
//! rows ([`crate::trace`]).

use sqlx::{PgConnection, Row as _};
use uuid::Uuid;

use crate::Error;
use crate::trace::TraceContext;

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

/// Makes a conditional change and writes `messages` in one statement, which PostgreSQL runs as
/// its own transaction: one round trip, no `BEGIN` or `COMMIT`, and no lock held while the
/// caller computes. `change` is the caller's own SQL (never user input): a data-modifying
/// statement with a `RETURNING` clause whose parameters start at `$7` (`bind_change` binds them); the messages are written only if it
/// returns a row, and the result says whether it did. Made for optimistic writers: read
/// without a lock, then change "where the version is still the one I read". As with
/// [`enqueue_then_wake`], the caller wakes its relay after a `true`.
pub async fn enqueue_with_change<'q>(
    conn: &mut PgConnection,
    change: &str,
    bind_change: impl FnOnce(PgQuery<'q>) -> PgQuery<'q>,
    messages: &'q [OutboxMessage],
) -> Result<bool, Error> {
    with_change(conn, change, None, bind_change, messages).await
}

/// [`enqueue_with_change`] plus `record`, a second data-modifying statement in the same
/// statement that reads the change's `RETURNING` rows as `change` (e.g. `INSERT INTO ...
/// SELECT ... FROM change`): whatever must commit with the change and only with it, such as the
/// idempotency key that lets a retry find what the change did. `bind_change` binds the
/// parameters of both, from `$7` on. If `record` fails (say, a unique violation), nothing of
/// the statement is written.
pub async fn enqueue_with_change_and<'q>(
    conn: &mut PgConnection,
    change: &str,
    record: &str,
    bind_change: impl FnOnce(PgQuery<'q>) -> PgQuery<'q>,
    messages: &'q [OutboxMessage],
) -> Result<bool, Error> {
    with_change(conn, change, Some(record), bind_change, messages).await
}

async fn with_change<'q>(
    conn: &mut PgConnection,
    change: &str,
    record: Option<&str>,
    bind_change: impl FnOnce(PgQuery<'q>) -> PgQuery<'q>,
    messages: &'q [OutboxMessage],
) -> Result<bool, Error> {
    // A data-modifying WITH runs once and to completion whatever reads it. The INSERT reads the
    // change's output, so its rows (and their ids) come after the change took its row locks:
    // an aggregate's rows keep commit order, which the relay's ordering check relies on.
    let record = record
        .map(|r| format!("recorded AS ({r}),"))
        .unwrap_or_default();
    // The caller's parameters follow our six, so the trace context goes after theirs: count
    // them by binding first, then build the statement around the bound arguments.
    let mut bound = bind_change(Columns::of(messages).bind(sqlx::query("")));
    let arguments = sqlx::Execute::take_arguments(&mut bound)
        .map_err(sqlx::Error::Encode)?
        .unwrap_or_default();
    let trace = sqlx::Arguments::len(&arguments) + 1;
    let insert = insert_sql(trace);
    let sql = format!(
        "WITH change AS ({change}), {record}
              written AS ({insert} WHERE EXISTS (SELECT FROM change) ORDER BY ord)
         SELECT EXISTS (SELECT FROM change)"
    );
    let context = TraceContext::current();
    let changed: bool = sqlx::query_with(sqlx::AssertSqlSafe(sql), arguments)
        .bind(context.traceparent)
        .bind(context.tracestate)
        .fetch_one(conn)
        .await?
        .try_get(0)?;
    Ok(changed)
}

/// A query on PostgreSQL with its arguments.
pub type PgQuery<'q> = sqlx::query::Query<'q, sqlx::Postgres, sqlx::postgres::PgArguments>;

/// The outbox insert, reading `$1`–`$6` (see [`Columns`]) and the trace context as the scalars
/// `$trace` (`traceparent`) and `$trace + 1` (`tracestate`): one context for every row of one
/// enqueue, the span it runs in. WITH ORDINALITY keeps the caller's order in the identity
/// column, which is publish order.
fn insert_sql(trace: usize) -> String {
    format!(
        "INSERT INTO outbox (event_id, aggregate_id, aggregate_version, subject, schema_name, payload,
                             traceparent, tracestate)
         SELECT e, a, v, s, n, p, ${trace}::text, ${}::text
         FROM unnest($1::uuid[], $2::text[], $3::bigint[], $4::text[], $5::text[], $6::bytea[])
              WITH ORDINALITY AS t(e, a, v, s, n, p, ord)",
        trace + 1
    )
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
    // A data-modifying WITH runs exactly once, so the notification costs no extra round trip.
    let insert = insert_sql(7);
    let query = if notify {
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "WITH inserted AS ({insert} ORDER BY ord) SELECT pg_notify($9, '')"
        )))
    } else {
        sqlx::query(sqlx::AssertSqlSafe(format!("{insert} ORDER BY ord")))
    };
    let context = TraceContext::current();
    let mut query = Columns::of(messages)
        .bind(query)
        .bind(context.traceparent)
        .bind(context.tracestate);
    if notify {
        query = query.bind(crate::NOTIFY_CHANNEL);
    }
    query.execute(conn).await?;
    Ok(())
}

/// The messages as the six column arrays [`insert_sql`] unnests.
struct Columns<'m> {
    event_ids: Vec<Uuid>,
    aggregate_ids: Vec<&'m str>,
    versions: Vec<i64>,
    subjects: Vec<&'m str>,
    schemas: Vec<&'m str>,
    payloads: Vec<&'m [u8]>,
}

impl<'m> Columns<'m> {
    fn of(messages: &'m [OutboxMessage]) -> Self {
        Self {
            event_ids: messages.iter().map(|m| m.event_id).collect(),
            aggregate_ids: messages.iter().map(|m| m.aggregate_id.as_str()).collect(),
            versions: messages.iter().map(|m| m.aggregate_version).collect(),
            subjects: messages.iter().map(|m| m.subject.as_str()).collect(),
            schemas: messages.iter().map(|m| m.schema_name.as_str()).collect(),
            payloads: messages.iter().map(|m| m.payload.as_slice()).collect(),
        }
    }

    /// Binds the arrays as `$1`–`$6`.
    fn bind<'q>(self, query: PgQuery<'q>) -> PgQuery<'q>
    where
        'm: 'q,
    {
        query
            .bind(self.event_ids)
            .bind(self.aggregate_ids)
            .bind(self.versions)
            .bind(self.subjects)
            .bind(self.schemas)
            .bind(self.payloads)
    }
}

/// How many events wait in the outbox (for `/metrics` and tests).
pub async fn pending_count(pool: &sqlx::PgPool) -> Result<i64, Error> {
    Ok(sqlx::query_scalar("SELECT count(*) FROM outbox")
        .fetch_one(pool)
        .await?)
}
