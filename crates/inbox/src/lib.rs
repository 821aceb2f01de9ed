//! Idempotent consumption of contract events from JetStream (docs/architecture.md).
//!
//! A [`Consumer`] pulls from a durable consumer with explicit acks. It decodes each fetched
//! message by its schema header and applies the whole fetched batch in ONE PostgreSQL
//! transaction: one multi-row insert records the event ids in the `inbox` table (an id already
//! there, or seen earlier in the same batch, is a duplicate and changes nothing), then the
//! [`Handler`] applies the fresh events in delivery order ([`Handler::handle_batch`]), taking
//! the row locks it needs up front in one global order. Only after the commit are the messages
//! acked, so a crash between commit and ack leads to a redelivery that the inbox turns into a
//! no-op. A message that can never be applied (undecodable, or a handler's permanent error) is
//! terminated, logged and counted, and the rest of its batch still commits; later messages keep
//! flowing. See [`batch`] for how failures inside a batch are handled.
//!
//! Each batch is applied in an `inbox.apply` span that continues the W3C trace context the
//! outbox relay put in the messages' headers ([`trace`]), so the events a handler writes to its
//! own outbox carry the trace on.
//!
//! A consumer that dies holding a fetched batch delays those messages by the consumer's
//! `ack_wait`, after which JetStream redelivers them to a live one. So `ack_wait` is short
//! ([`ACK_WAIT`]), and a batch that takes longer (waiting for row locks, a slow disk) tells
//! JetStream it is still at work ([`progress`]), so a slow batch is not handed to a second
//! worker meanwhile.

pub mod batch;
pub mod progress;
mod trace;

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use async_nats::jetstream::{self, AckKind, consumer::pull};
use futures::StreamExt;
use orderflow_connections::Connections;
use orderflow_events::{AnyEvent, decode_by_schema, headers};
use sqlx::{PgConnection, PgPool};
use tokio_util::sync::CancellationToken;

/// Creates or upgrades the inbox table (own migrations table, independent of the service's).
pub async fn migrate(pool: &PgPool) -> Result<(), sqlx::migrate::MigrateError> {
    let mut migrator = sqlx::migrate!("./migrations");
    migrator.dangerous_set_table_name("_orderflow_inbox_migrations");
    migrator.run(pool).await
}

/// Why a handler could not apply an event.
#[derive(Debug, thiserror::Error)]
pub enum HandlerError {
    /// Retrying will not help (the event contradicts our state); the message is terminated.
    #[error("permanent: {0}")]
    Permanent(String),
    /// A passing failure (database hiccup); the message is redelivered later.
    #[error("transient: {0}")]
    Transient(#[from] sqlx::Error),
}

/// Applies events inside the consumer's transaction.
pub trait Handler: Send + Sync + 'static {
    /// Applies `event` using `tx`; the inbox row is already written in the same transaction.
    fn handle(
        &self,
        tx: &mut PgConnection,
        event: &AnyEvent,
    ) -> impl Future<Output = Result<(), HandlerError>> + Send;

    /// Applies the fresh events of one transaction, in delivery order; their inbox rows are
    /// already written. The default calls [`Handler::handle`] per event, which suits a handler
    /// whose events each lock at most one row. A handler whose events lock several rows that
    /// other events share must override it and lock every row the batch will touch up front,
    /// in one global order that every other writer of those rows also follows: two batches
    /// locking shared rows as they go, in different orders, deadlock (a deadlock is still
    /// retried, see [`batch`], but each one costs a rolled-back batch). Overriding it also lets
    /// a handler apply the batch with a few set-based statements instead of several per event.
    /// On failure it names the failing event; the consumer replays the batch without an event
    /// that failed permanently.
    fn handle_batch(
        &self,
        tx: &mut PgConnection,
        events: &[&AnyEvent],
    ) -> impl Future<Output = Result<(), EventFailed>> + Send {
        async move {
            for (index, event) in events.iter().enumerate() {
                self.handle(tx, event)
                    .await
                    .map_err(|error| EventFailed { index, error })?;
            }
            Ok(())
        }
    }
}

/// A batch could not be applied: `error` of the event at `index` of the batch (for a transient
/// error the index does not matter: the whole batch is rolled back and retried).
#[derive(Debug, thiserror::Error)]
#[error("event {index} of the batch: {error}")]
pub struct EventFailed {
    /// Position of the failing event in the slice given to [`Handler::handle_batch`].
    pub index: usize,
    /// What went wrong.
    #[source]
    pub error: HandlerError,
}

/// What happened to one message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Applied and committed.
    Applied,
    /// Seen before; nothing changed.
    Duplicate,
    /// Can never be applied; to be terminated.
    Rejected,
    /// Failed for now; to be redelivered.
    Retry,
}

/// Consumer set-up errors.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// JetStream refused or failed a consumer operation.
    #[error("jetstream consumer error: {0}")]
    JetStream(String),
}

/// How long JetStream waits for the ack of a delivered message before it redelivers it: the
/// longest a crashed consumer delays the messages it had fetched. A live consumer renews it
/// while its batch takes longer ([`progress`]).
pub const ACK_WAIT: Duration = Duration::from_secs(3);

/// A durable, idempotent consumer of one stream.
pub struct Consumer<H> {
    name: String,
    /// One connection: a consumer applies one batch at a time (workers are separate consumers).
    connection: Connections,
    consumer: jetstream::consumer::Consumer<pull::Config>,
    handler: H,
    /// Batches that lost a lock race (deadlock or serialization failure) and were retried.
    conflicts: AtomicU64,
}

impl<H: Handler> Consumer<H> {
    /// Creates (or binds to) the durable consumer `name` on `stream` filtered by `subjects`.
    /// An existing durable consumer is updated (create-or-update), so a deployment picks up a
    /// new [`ACK_WAIT`] at its next start.
    pub async fn bind(
        jetstream: &jetstream::Context,
        stream: &str,
        name: &str,
        subjects: Vec<String>,
        pool: PgPool,
        handler: H,
    ) -> Result<Self, Error> {
        let err = |e: &dyn std::fmt::Display| Error::JetStream(e.to_string());
        let stream = jetstream.get_stream(stream).await.map_err(|e| err(&e))?;
        let consumer = stream
            .create_consumer(pull::Config {
                durable_name: Some(name.to_owned()),
                filter_subjects: subjects,
                ack_policy: jetstream::consumer::AckPolicy::Explicit,
                ack_wait: ACK_WAIT,
                max_deliver: -1,
                ..Default::default()
            })
            .await
            .map_err(|e| err(&e))?;
        Ok(Self {
            name: name.to_owned(),
            connection: Connections::like(&pool, 1),
            consumer,
            handler,
            conflicts: AtomicU64::new(0),
        })
    }

    /// Decodes a message; `None` (logged) when it can never be applied.
    fn decode(&self, message: &jetstream::Message) -> Option<(uuid::Uuid, AnyEvent)> {
        let schema = message
            .headers
            .as_ref()
            .and_then(|h| h.get(headers::SCHEMA))
            .map(|v| v.as_str().to_owned())
            .unwrap_or_default();
        let event = match decode_by_schema(&schema, &message.payload) {
            Ok(event) => event,
            Err(e) => {
                tracing::error!(consumer = %self.name, subject = %message.subject, error = %e,
                    "terminating an event that cannot be decoded");
                return None;
            }
        };
        let Some(event_id) = event.metadata().and_then(|m| m.event_uuid().ok()) else {
            tracing::error!(consumer = %self.name, subject = %message.subject,
                "terminating an event without a valid event id");
            return None;
        };
        Some((event_id, event))
    }

    /// One step: fetch up to `max` messages (waiting at most `wait` for the first), apply them
    /// all in one transaction ([`Consumer::apply_batch`]), and only after its commit ack each
    /// one: applied and duplicate messages are acked, rejected ones terminated, the others
    /// nakked for redelivery. While the batch is being applied, its messages are marked in
    /// progress every third of `ack_wait` (for at most [`progress::MAX_IN_PROGRESS`]). Returns
    /// the outcomes in delivery order.
    pub async fn step(&self, max: usize, wait: Duration) -> Result<Vec<Outcome>, Error> {
        let messages = self.fetch(max, wait).await?;
        Ok(self.settle(&messages).await)
    }

    /// [`step`](Self::step), unless `stop` comes first: a stop while fetching ends the step at
    /// once (with nothing), but a batch that was fetched is applied and acked before this
    /// returns, so a stopping service finishes its batch instead of leaving the messages to be
    /// redelivered after `ack_wait`.
    pub async fn step_until(
        &self,
        max: usize,
        wait: Duration,
        stop: &CancellationToken,
    ) -> Result<Vec<Outcome>, Error> {
        let messages = tokio::select! {
            () = stop.cancelled() => return Ok(Vec::new()),
            fetched = self.fetch(max, wait) => fetched?,
        };
        Ok(self.settle(&messages).await)
    }

    /// Up to `max` messages, waiting at most `wait` for the first.
    async fn fetch(&self, max: usize, wait: Duration) -> Result<Vec<jetstream::Message>, Error> {
        let mut fetched = self
            .consumer
            .fetch()
            .max_messages(max)
            .expires(wait)
            .messages()
            .await
            .map_err(|e| Error::JetStream(e.to_string()))?;
        let mut messages = Vec::new();
        while let Some(message) = fetched.next().await {
            messages.push(message.map_err(|e| Error::JetStream(e.to_string()))?);
        }
        Ok(messages)
    }

    /// Applies fetched `messages` (keeping them in progress meanwhile) and acks each one by its
    /// outcome.
    async fn settle(&self, messages: &[jetstream::Message]) -> Vec<Outcome> {
        // Redeliveries are harmless (the inbox drops what it applied) but say that acks went
        // missing: a replica died mid-batch, or a batch outlived the ack wait.
        let redelivered = messages
            .iter()
            .filter(|m| m.info().is_ok_and(|info| info.delivered > 1))
            .count();
        if redelivered > 0 {
            metrics::counter!("inbox_redeliveries_total", "consumer" => self.name.clone())
                .increment(redelivered as u64);
        }
        let outcomes = {
            let touch = move || async move {
                for message in messages {
                    // A lost mark costs a redelivery at worst, which the inbox makes harmless.
                    let _ = message.ack_with(AckKind::Progress).await;
                }
            };
            let keep = progress::keep_in_progress(ACK_WAIT / 3, touch);
            tokio::select! {
                outcomes = self.apply_batch(messages) => outcomes,
                never = keep => match never {},
            }
        };
        for (message, &outcome) in messages.iter().zip(&outcomes) {
            let ack = match outcome {
                Outcome::Applied | Outcome::Duplicate => AckKind::Ack,
                Outcome::Rejected => AckKind::Term,
                Outcome::Retry => AckKind::Nak(Some(Duration::from_secs(1))),
            };
            metrics::counter!("inbox_messages_total", "consumer" => self.name.clone(),
                "outcome" => format!("{outcome:?}"))
            .increment(1);
            if let Err(e) = message.ack_with(ack).await {
                // Not acked means redelivered, and the inbox makes that harmless.
                tracing::warn!(consumer = %self.name, error = %e, "ack failed");
            }
        }
        self.export_lag().await;
        outcomes
    }

    /// How many times this consumer's batches hit a deadlock or serialization failure (each
    /// one retried; also exported as `inbox_batch_conflicts_total`). Zero for a handler that
    /// takes its locks up front in one global order (see [`Handler::handle_batch`]).
    pub fn conflicts(&self) -> u64 {
        self.conflicts.load(Ordering::Relaxed)
    }

    async fn export_lag(&self) {
        if let Ok(info) = self.consumer.clone().info().await {
            metrics::gauge!("inbox_consumer_pending", "consumer" => self.name.clone())
                .set(info.num_pending as f64);
        }
    }

    /// Runs steps until `shutdown` (finishing a fetched batch), backing off after errors.
    pub async fn run(self, shutdown: CancellationToken) {
        while !shutdown.is_cancelled() {
            let result = self
                .step_until(256, Duration::from_secs(1), &shutdown)
                .await;
            if let Err(e) = result {
                tracing::warn!(consumer = %self.name, error = %e, "consumer step failed");
                tokio::select! {
                    () = shutdown.cancelled() => return,
                    () = tokio::time::sleep(Duration::from_millis(500)) => {}
                }
            }
        }
    }
}
