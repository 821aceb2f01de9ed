//! Applying a batch of messages in one transaction, and what happens when part of it fails.
//!
//! One commit (one disk flush) per batch instead of per event is what lets a consumer keep up
//! with a producer that commits from many connections at once. The batch keeps the per-event
//! guarantees of one transaction per event:
//!
//! - **Duplicates** are found by one multi-row `INSERT … ON CONFLICT DO NOTHING RETURNING` into
//!   the inbox. Its rows go in sorted by event id, so two batches that share ids (a redelivery
//!   racing the first delivery) wait for each other instead of deadlocking.
//! - **Deadlocks** between concurrent batches (other workers, other replicas) cannot happen for
//!   a handler that takes its locks up front in one global order ([`Handler::handle_batch`]).
//!   A deadlock or serialization failure (SQLSTATE `40P01`/`40001`) is still treated as
//!   transient: the batch is retried a few times, then applied one event per transaction.
//! - **A permanent error** in one event rolls the transaction back and the batch is replayed
//!   without that event, which is rejected (terminated); the others commit. This replaces a
//!   savepoint per event: savepoints cost two round trips per event on the fast path, and more
//!   than 64 of them in one transaction overflow PostgreSQL's per-backend subtransaction cache,
//!   which slows every other session's snapshots. Permanent errors are rare, so the replay is
//!   cheap overall; a handler's metrics for replayed events may count twice.
//! - **Any other failure** (connection lost, commit failed) leaves every message of the batch
//!   to be redelivered, which the inbox makes harmless.

use std::collections::HashSet;
use std::sync::atomic::Ordering;

use async_nats::jetstream;
use orderflow_events::AnyEvent;
use sqlx::PgConnection;
use tracing::Instrument as _;
use uuid::Uuid;

use crate::{Consumer, EventFailed, Handler, HandlerError, Outcome};

/// Attempts of a whole batch that hit deadlocks before falling back to one event per
/// transaction.
const CONFLICT_ATTEMPTS: usize = 3;

/// Why one attempt at a batch did not commit.
enum Failure {
    /// The event at this position of the attempt can never be applied.
    Permanent(usize, String),
    /// A database failure (see [`is_conflict`] for the ones worth retrying at once).
    Transient(sqlx::Error),
}

impl From<sqlx::Error> for Failure {
    fn from(e: sqlx::Error) -> Self {
        Self::Transient(e)
    }
}

/// A deadlock or serialization failure: the transaction lost a race and may simply be retried.
fn is_conflict(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(db)
        if matches!(db.code().as_deref(), Some("40P01" | "40001")))
}

/// One decoded message waiting for its outcome.
struct Pending<'a> {
    position: usize,
    event_id: Uuid,
    event: &'a AnyEvent,
}

impl<H: Handler> Consumer<H> {
    /// Decodes and applies one message in its own transaction without acking it (tests use
    /// this to inject a crash between commit and ack).
    pub async fn apply(&self, message: &jetstream::Message) -> Outcome {
        self.apply_batch(std::slice::from_ref(message)).await[0]
    }

    /// Decodes `messages` and applies them in one transaction without acking them (the caller
    /// acks after this returns, i.e. after the commit). Returns one outcome per message, in
    /// order; see the module documentation for partial failures.
    pub async fn apply_batch(&self, messages: &[jetstream::Message]) -> Vec<Outcome> {
        let span = crate::trace::batch_span(&self.name, messages);
        self.apply_batch_in_span(messages).instrument(span).await
    }

    /// [`apply_batch`](Self::apply_batch) inside its span.
    async fn apply_batch_in_span(&self, messages: &[jetstream::Message]) -> Vec<Outcome> {
        let decoded: Vec<Option<(Uuid, AnyEvent)>> =
            messages.iter().map(|m| self.decode(m)).collect();
        let mut outcomes: Vec<Option<Outcome>> = decoded
            .iter()
            .map(|d| d.is_none().then_some(Outcome::Rejected))
            .collect();
        let mut conflicts = 0;
        loop {
            let pending: Vec<Pending<'_>> = decoded
                .iter()
                .enumerate()
                .filter(|(position, _)| outcomes[*position].is_none())
                .filter_map(|(position, d)| {
                    d.as_ref().map(|(event_id, event)| Pending {
                        position,
                        event_id: *event_id,
                        event,
                    })
                })
                .collect();
            if pending.is_empty() {
                break;
            }
            match self.attempt(&pending).await {
                Ok(results) => {
                    for (p, outcome) in pending.iter().zip(results) {
                        outcomes[p.position] = Some(outcome);
                    }
                }
                Err(Failure::Permanent(at, reason)) => {
                    let p = &pending[at];
                    tracing::error!(consumer = %self.name, event_id = %p.event_id, %reason,
                        "terminating an event that cannot be applied");
                    outcomes[p.position] = Some(Outcome::Rejected);
                }
                Err(Failure::Transient(e)) if self.note_conflict(&e) && pending.len() > 1 => {
                    conflicts += 1;
                    tracing::warn!(consumer = %self.name, error = %e, attempt = conflicts,
                        "batch lost a lock race; retrying");
                    if conflicts >= CONFLICT_ATTEMPTS {
                        for p in &pending {
                            outcomes[p.position] = Some(self.apply_alone(p).await);
                        }
                    }
                }
                Err(Failure::Transient(e)) => {
                    tracing::warn!(consumer = %self.name, error = %e, events = pending.len(),
                        "batch rolled back; will retry");
                    for p in &pending {
                        outcomes[p.position] = Some(Outcome::Retry);
                    }
                }
            }
        }
        outcomes
            .into_iter()
            .map(|o| o.unwrap_or(Outcome::Retry))
            .collect()
    }

    /// Whether `e` is a deadlock or serialization failure; counts it if so.
    fn note_conflict(&self, e: &sqlx::Error) -> bool {
        let conflict = is_conflict(e);
        if conflict {
            self.conflicts.fetch_add(1, Ordering::Relaxed);
            metrics::counter!("inbox_batch_conflicts_total", "consumer" => self.name.clone())
                .increment(1);
        }
        conflict
    }

    /// The fallback after repeated conflicts: one event in its own transaction.
    async fn apply_alone(&self, p: &Pending<'_>) -> Outcome {
        let alone = Pending {
            position: 0,
            event_id: p.event_id,
            event: p.event,
        };
        match self.attempt(std::slice::from_ref(&alone)).await {
            Ok(results) => results[0],
            Err(Failure::Permanent(_, reason)) => {
                tracing::error!(consumer = %self.name, event_id = %p.event_id, %reason,
                    "terminating an event that cannot be applied");
                Outcome::Rejected
            }
            Err(Failure::Transient(e)) => {
                self.note_conflict(&e);
                tracing::warn!(consumer = %self.name, event_id = %p.event_id, error = %e,
                    "will retry event");
                Outcome::Retry
            }
        }
    }

    /// One transaction over `pending`: inbox rows, the handler on the fresh events, commit (or
    /// roll back if the batch failed).
    async fn attempt(&self, pending: &[Pending<'_>]) -> Result<Vec<Outcome>, Failure> {
        self.connection
            .transaction(async |tx| self.attempt_in(tx, pending).await)
            .await
    }

    /// The batch's statements inside the transaction `tx`.
    async fn attempt_in(
        &self,
        tx: &mut PgConnection,
        pending: &[Pending<'_>],
    ) -> Result<Vec<Outcome>, Failure> {
        let ids: Vec<Uuid> = pending.iter().map(|p| p.event_id).collect();
        let mut fresh: HashSet<Uuid> = sqlx::query_scalar(
            "INSERT INTO inbox (consumer, event_id)
             SELECT $1, id FROM (SELECT DISTINCT unnest($2::uuid[]) AS id) ids ORDER BY id
             ON CONFLICT DO NOTHING
             RETURNING event_id",
        )
        .bind(&self.name)
        .bind(&ids)
        .fetch_all(&mut *tx)
        .await?
        .into_iter()
        .collect();
        // The first delivery of an id in this batch applies it; any later one is a duplicate.
        let outcomes: Vec<Outcome> = pending
            .iter()
            .map(|p| {
                if fresh.remove(&p.event_id) {
                    Outcome::Applied
                } else {
                    Outcome::Duplicate
                }
            })
            .collect();
        let applying: Vec<(usize, &AnyEvent)> = pending
            .iter()
            .zip(&outcomes)
            .enumerate()
            .filter(|(_, (_, o))| **o == Outcome::Applied)
            .map(|(at, (p, _))| (at, p.event))
            .collect();
        if !applying.is_empty() {
            let events: Vec<&AnyEvent> = applying.iter().map(|(_, e)| *e).collect();
            match self.handler.handle_batch(tx, &events).await {
                Ok(()) => {}
                Err(EventFailed {
                    index,
                    error: HandlerError::Permanent(reason),
                }) => {
                    // An index out of range is the handler's bug; blame its first event.
                    let at = applying
                        .get(index)
                        .or(applying.first())
                        .map_or(0, |(at, _)| *at);
                    return Err(Failure::Permanent(at, reason));
                }
                Err(EventFailed {
                    error: HandlerError::Transient(e),
                    ..
                }) => return Err(Failure::Transient(e)),
            }
        }
        Ok(outcomes)
    }
}
