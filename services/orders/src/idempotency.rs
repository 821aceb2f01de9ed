//! `Idempotency-Key` on every state-changing request: a retry of a request whose answer was
//! lost (a dropped connection, a crash after the commit) is answered with what the first one
//! committed, instead of doing it twice (a create) or being refused (a transition would find
//! the order already moved on and answer 409).
//!
//! A key is scoped to the caller (the token's subject) and names one request: the first use
//! records a fingerprint of it, and reusing the key for anything else is `422
//! idempotency_key_reused`. Only committed requests record their key; a refused one (404, 409,
//! 412, 422) leaves nothing behind, so its retry is decided afresh. Keys are kept at least
//! [`KEY_LIFETIME`]; a retry after that is a new request.

use std::time::Duration;

use sqlx::{PgConnection, PgPool};
use time::OffsetDateTime;
use tokio_util::sync::CancellationToken;

use crate::domain::{Command, Order, OrderId};
use crate::service::{Actor, Decided, OrderError, TransitionRequest, decide, visible};
use crate::store::{self, KeyedSave};

/// How long a key is kept (and a retry with it answered from the first request).
pub const KEY_LIFETIME: Duration = Duration::from_secs(24 * 60 * 60);
/// How often expired keys are purged; a key lives at most this much longer than its lifetime.
pub const PURGE_EVERY: Duration = Duration::from_secs(60 * 60);
/// Keys deleted per statement by the purge.
const PURGE_BATCH: i64 = 5_000;

/// The fingerprint of a transition request: the order, the command with its reason, and the
/// version `If-Match` named. A create's fingerprint lists skus and can never look like this.
pub fn transition_fingerprint(id: OrderId, command: &Command, if_match: Option<u64>) -> String {
    let reason = match command {
        Command::Cancel { reason } => reason.as_str(),
        _ => "",
    };
    let if_match = if_match.map(|v| v.to_string()).unwrap_or_default();
    format!("transition:{id}:{}:{if_match}:{reason}", command.name())
}

/// Applies `command` under `key` on `conn`, outside any transaction (like
/// `service::transition_on`, plus the key). Returns the order right after the transition that
/// the key names, and whether this was a replay of an earlier request.
pub(crate) async fn transition_on(
    conn: &mut PgConnection,
    request: &TransitionRequest<'_>,
    key: &str,
) -> Result<(Order, bool), OrderError> {
    let fingerprint = transition_fingerprint(request.id, request.command, request.if_match);
    // Each pass answers, or lost a race to a commit (of this order, or of this key) that the
    // next pass sees; an order commits at most five transitions, a key one.
    loop {
        if let Some(replay) = replay(conn, request.actor, key, &fingerprint).await? {
            return Ok((replay, true));
        }
        match attempt(conn, request, key, &fingerprint).await {
            Ok(KeyedSave::Saved(order)) => return Ok((order, false)),
            Ok(KeyedSave::Lost | KeyedSave::KeyTaken) => {}
            // A refusal may only mean that a request with this key committed since the lookup
            // (the order is now past this command): that one's answer is the right one.
            Err(refusal @ (OrderError::Transition(_) | OrderError::VersionMismatch { .. })) => {
                if store::find_key(conn, request.actor.customer_id, key)
                    .await?
                    .is_none()
                {
                    return Err(refusal);
                }
            }
            Err(other) => return Err(other),
        }
    }
}

/// The order as the request recorded under `key` left it, if the key was used; an error if it
/// was used for another request.
async fn replay(
    conn: &mut PgConnection,
    actor: &Actor,
    key: &str,
    fingerprint: &str,
) -> Result<Option<Order>, OrderError> {
    let Some(recorded) = store::find_key(conn, actor.customer_id, key).await? else {
        return Ok(None);
    };
    let Some(committed) = recorded
        .result
        .filter(|_| recorded.request_hash == fingerprint)
    else {
        return Err(OrderError::IdempotencyKeyReused);
    };
    let order = visible(actor, store::load_order(conn, recorded.order_id).await?)?;
    Ok(Some(committed.apply_to(order)))
}

/// One optimistic attempt: read, decide, and write the transition with its events and its key
/// if the order is still as read.
async fn attempt(
    conn: &mut PgConnection,
    request: &TransitionRequest<'_>,
    key: &str,
    fingerprint: &str,
) -> Result<KeyedSave<Order>, OrderError> {
    let Decided {
        order,
        read_version,
        messages,
    } = decide(conn, request).await?;
    let saved = store::save_keyed_transition(
        conn,
        &order,
        read_version,
        &messages,
        request.actor.customer_id,
        key,
        fingerprint,
    )
    .await?;
    Ok(saved.map(|()| order))
}

/// Deletes the keys older than [`KEY_LIFETIME`]: one step of [`purge_forever`]. Returns how
/// many were deleted.
pub async fn purge_expired(pool: &PgPool) -> Result<u64, sqlx::Error> {
    let cutoff = OffsetDateTime::now_utc() - KEY_LIFETIME;
    let mut total = 0;
    loop {
        let mut conn = pool.acquire().await?;
        let deleted = store::purge_idempotency_keys(&mut conn, cutoff, PURGE_BATCH).await?;
        drop(conn);
        total += deleted;
        if deleted < PURGE_BATCH as u64 {
            return Ok(total);
        }
    }
}

/// Purges expired keys every [`PURGE_EVERY`] until `shutdown`.
pub async fn purge_forever(pool: PgPool, shutdown: CancellationToken) {
    let mut ticks = tokio::time::interval(PURGE_EVERY);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = shutdown.cancelled() => return,
            _ = ticks.tick() => {}
        }
        match purge_expired(&pool).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(deleted = n, "expired idempotency keys purged"),
            // The next tick tries again; keys only live a little longer meanwhile.
            Err(e) => tracing::warn!(error = %e, "purging expired idempotency keys failed"),
        }
    }
}
