//! Idempotency keys: one row per (caller, key) remembering which request the key was first used
//! for (a fingerprint), the order it concerned and, for a transition, what it committed. A
//! create claims its key inside its transaction; a transition writes its key in the very
//! statement that commits it, so a transition is never committed without its key.

use orderflow_outbox::OutboxMessage;
use sqlx::PgConnection;
use time::OffsetDateTime;
use uuid::Uuid;

use super::orders::{TRANSITION_IF_UNCHANGED, bind_transition};
use crate::domain::{CustomerId, Order, OrderId, OrderStatus};

/// Claims `key` for this customer's create request. Returns `None` when the key is new (the
/// caller goes on creating `order_id`), or the earlier request's hash and order when it was used
/// before. A concurrent request with the same key waits here until the first one commits.
pub async fn record_idempotency_key(
    conn: &mut PgConnection,
    customer: CustomerId,
    key: &str,
    request_hash: &str,
    order_id: OrderId,
) -> Result<Option<(String, OrderId)>, sqlx::Error> {
    let inserted = sqlx::query(
        "INSERT INTO idempotency_keys (customer_id, key, request_hash, order_id)
         VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
    )
    .bind(customer.0)
    .bind(key)
    .bind(request_hash)
    .bind(order_id.0)
    .execute(&mut *conn)
    .await?
    .rows_affected();
    if inserted == 1 {
        return Ok(None);
    }
    find_idempotent(conn, customer, key).await
}

/// The request hash and order recorded for an idempotency key, if any.
pub async fn find_idempotent(
    conn: &mut PgConnection,
    customer: CustomerId,
    key: &str,
) -> Result<Option<(String, OrderId)>, sqlx::Error> {
    Ok(find_key(conn, customer, key)
        .await?
        .map(|k| (k.request_hash, k.order_id)))
}

/// What an idempotency key recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordedKey {
    /// Fingerprint of the request the key was first used for.
    pub request_hash: String,
    /// The order it created or changed.
    pub order_id: OrderId,
    /// For a transition: the order's state right after it committed.
    pub result: Option<Committed>,
}

/// The changing part of an order right after a transition committed (everything else about an
/// order is fixed when it is created).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Committed {
    /// Its status then.
    pub status: OrderStatus,
    /// Its version then.
    pub version: u64,
    /// Its cancel reason then.
    pub cancel_reason: Option<String>,
    /// When it committed.
    pub updated_at: OffsetDateTime,
}

impl Committed {
    /// `order` as it was right after the transition.
    pub fn apply_to(&self, mut order: Order) -> Order {
        order.status = self.status;
        order.version = self.version;
        order.cancel_reason.clone_from(&self.cancel_reason);
        order.updated_at = self.updated_at;
        order
    }
}

type KeyRow = (
    String,
    Uuid,
    Option<String>,
    Option<i64>,
    Option<String>,
    Option<OffsetDateTime>,
);

/// The record of `key` for this caller, if the key was used.
pub async fn find_key(
    conn: &mut PgConnection,
    caller: CustomerId,
    key: &str,
) -> Result<Option<RecordedKey>, sqlx::Error> {
    let row: Option<KeyRow> = sqlx::query_as(
        "SELECT request_hash, order_id, result_status, result_version, result_cancel_reason,
                result_updated_at
         FROM idempotency_keys WHERE customer_id = $1 AND key = $2",
    )
    .bind(caller.0)
    .bind(key)
    .fetch_optional(conn)
    .await?;
    let Some((request_hash, order_id, status, version, cancel_reason, updated_at)) = row else {
        return Ok(None);
    };
    let result = match (status, version, updated_at) {
        (Some(status), Some(version), Some(updated_at)) => Some(Committed {
            status: OrderStatus::parse(&status)
                .ok_or_else(|| sqlx::Error::Decode(format!("unknown status {status}").into()))?,
            version: version as u64,
            cancel_reason,
            updated_at,
        }),
        _ => None,
    };
    Ok(Some(RecordedKey {
        request_hash,
        order_id: OrderId(order_id),
        result,
    }))
}

/// What [`save_keyed_transition`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyedSave<T = ()> {
    /// The transition, its events and its key committed.
    Saved(T),
    /// The order was no longer at the version read; nothing was written.
    Lost,
    /// Another request took the key first; nothing was written.
    KeyTaken,
}

impl<T> KeyedSave<T> {
    /// Carries `f(value)` in place of a saved value.
    pub fn map<U>(self, f: impl FnOnce(T) -> U) -> KeyedSave<U> {
        match self {
            Self::Saved(value) => KeyedSave::Saved(f(value)),
            Self::Lost => KeyedSave::Lost,
            Self::KeyTaken => KeyedSave::KeyTaken,
        }
    }
}

/// Saves a transition, its events and the key that names it in one statement (its own
/// transaction), provided the order is still at `read_version`. `order` is the state after the
/// transition, which the key records as the committed result.
pub async fn save_keyed_transition(
    conn: &mut PgConnection,
    order: &Order,
    read_version: u64,
    events: &[OutboxMessage],
    caller: CustomerId,
    key: &str,
    request_hash: &str,
) -> Result<KeyedSave, orderflow_outbox::Error> {
    // $8-$11 are the new status, version, cancel reason and time of the transition itself. A
    // key already there breaks the primary key, and the whole statement rolls back.
    let saved = orderflow_outbox::enqueue_with_change_and(
        conn,
        TRANSITION_IF_UNCHANGED,
        "INSERT INTO idempotency_keys (customer_id, key, request_hash, order_id, result_status,
                                       result_version, result_cancel_reason, result_updated_at)
         SELECT $13, $14, $15, id, $8, $9, $10, $11 FROM change",
        |query| {
            bind_transition(query, order, read_version)
                .bind(caller.0)
                .bind(key)
                .bind(request_hash)
        },
        events,
    )
    .await;
    match saved {
        Ok(true) => Ok(KeyedSave::Saved(())),
        Ok(false) => Ok(KeyedSave::Lost),
        Err(orderflow_outbox::Error::Database(sqlx::Error::Database(e)))
            if e.constraint() == Some("idempotency_keys_pkey") =>
        {
            Ok(KeyedSave::KeyTaken)
        }
        Err(e) => Err(e),
    }
}

/// Deletes up to `batch` keys created before `cutoff`; returns how many. Small batches keep each
/// delete short next to the requests writing keys.
pub async fn purge_idempotency_keys(
    conn: &mut PgConnection,
    cutoff: OffsetDateTime,
    batch: i64,
) -> Result<u64, sqlx::Error> {
    let done = sqlx::query(
        "DELETE FROM idempotency_keys
         WHERE (customer_id, key) IN (SELECT customer_id, key FROM idempotency_keys
                                      WHERE created_at < $1 LIMIT $2)",
    )
    .bind(cutoff)
    .bind(batch)
    .execute(conn)
    .await?;
    Ok(done.rows_affected())
}
