//! The relay: publishes outbox rows to JetStream and deletes them once acknowledged.
//!
//! Correctness rules (docs/architecture.md):
//! - Rows are claimed with `FOR UPDATE SKIP LOCKED`, so several replicas share the work.
//! - Per-aggregate order: a claimed row is held back while an earlier row of the same aggregate
//!   is still in the table but not in this batch (another relay owns it, or it failed). Rows of
//!   one aggregate get increasing ids because writers lock the aggregate row first (a locking
//!   read, or the conditional UPDATE of [`enqueue_with_change`](crate::enqueue_with_change)).
//! - No row committed late is ever skipped: the relay never remembers a "last id seen"; it reads
//!   whatever is still in the table, so a row whose id was assigned before a slower transaction
//!   committed is simply picked up by the next step.
//! - No row waits for the poll when its writer woke the relay: a claim covers every wake
//!   counted before it began, and the relay claims again only when a wake came after that (or
//!   its last claim was full, or it held rows back behind its own batches), so it does not
//!   spend claims that find nothing.
//! - A batch is claimed and deleted by one statement, in a transaction that commits only after
//!   every publish ack; a crash before that rolls the delete back, the rows are published again
//!   and JetStream's duplicate window (keyed by `Nats-Msg-Id`) drops the copies.

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use async_nats::HeaderMap;
use async_nats::jetstream::{self, context::PublishAckFuture, message::PublishMessage};
use bytes::Bytes;
use futures::future::BoxFuture;
use futures::stream::FuturesUnordered;
use futures::{FutureExt as _, StreamExt as _};
use orderflow_connections::{Connections, Kept};
use orderflow_events::headers;
use sqlx::PgPool;
use sqlx::postgres::PgListener;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::{Error, StreamSettings, ensure_streams};

/// Most batches a relay has claimed and not yet finished at once; each holds a connection.
const BATCHES_AT_ONCE: usize = 3;

/// Tuning of a relay.
#[derive(Debug, Clone)]
pub struct RelaySettings {
    /// Most rows claimed per step.
    pub batch_size: i64,
    /// Safety-net poll interval when no notification arrives (lost connection, missed NOTIFY).
    pub poll_interval: Duration,
    /// Pause after a failed step (NATS down) before retrying.
    pub retry_backoff: Duration,
}

impl Default for RelaySettings {
    fn default() -> Self {
        Self {
            batch_size: 500,
            poll_interval: Duration::from_millis(500),
            retry_backoff: Duration::from_millis(250),
        }
    }
}

/// Wakes the relay of this process after a commit that wrote rows with
/// [`enqueue_then_wake`](crate::enqueue_then_wake). Cheap and never blocks; wakes that arrive
/// while the relay is busy fold into one more drain, so none is lost.
///
/// It also counts its wakes, so the relay knows when a claim can find nothing new: every row
/// whose writer woke it before a claim began is visible to that claim.
#[derive(Debug, Clone, Default)]
pub struct RelayWaker(Arc<WakerState>);

#[derive(Debug, Default)]
struct WakerState {
    notify: Notify,
    wakes: AtomicU64,
}

impl RelayWaker {
    /// Tells the relay that committed rows are waiting.
    pub fn wake(&self) {
        self.0.wakes.fetch_add(1, Ordering::Release);
        self.0.notify.notify_one();
    }

    /// How many wakes so far. Read before a claim begins: if it is unchanged after the claim,
    /// no writer of this process committed rows the claim could not see.
    fn wakes(&self) -> u64 {
        self.0.wakes.load(Ordering::Acquire)
    }

    /// Returns once a wake beyond `seen` has happened (at once if one already has).
    async fn woken_since(&self, seen: u64) {
        loop {
            // A wake between this check and the wait leaves a permit, so none is missed; old
            // permits (of wakes a claim already covered) only cost another look at the count.
            if self.wakes() != seen {
                return;
            }
            self.0.notify.notified().await;
        }
    }
}

/// What a drain did: rows published, and the wake count its last claim covered.
struct Drained {
    published: usize,
    covered: u64,
}

/// Publishes outbox rows of one database to JetStream.
#[derive(Clone)]
pub struct Relay {
    pool: PgPool,
    connections: Connections,
    jetstream: jetstream::Context,
    settings: RelaySettings,
    waker: RelayWaker,
}

#[derive(sqlx::FromRow)]
struct Row {
    id: i64,
    event_id: Uuid,
    aggregate_id: String,
    aggregate_version: i64,
    subject: String,
    schema_name: String,
    payload: Vec<u8>,
    /// The W3C trace context the event was written in, sent as headers of the same names.
    traceparent: Option<String>,
    tracestate: Option<String>,
    /// Seconds since the writing transaction began: the relay's share of event latency.
    waited_secs: f64,
    /// An earlier row of the same aggregate is still waiting outside this batch.
    blocked: bool,
}

/// A claimed batch whose publishes are sent and whose acks are outstanding. Its rows are deleted
/// in its connection's open transaction.
struct InFlight {
    conn: Kept,
    sent: Vec<Sent>,
    /// The claim reached the batch size: more rows may be waiting beyond it.
    full: bool,
    /// Some rows were held back behind an earlier row of their aggregate.
    held_back: bool,
}

/// One row's publish: its ack, or why it could not be sent.
struct Sent {
    id: i64,
    event_id: Uuid,
    subject: String,
    waited_secs: f64,
    ack: Result<PublishAckFuture, Error>,
}

impl InFlight {
    /// Waits for every ack; what remains is committing the delete.
    async fn acknowledged(self) -> Published {
        let mut ids = Vec::with_capacity(self.sent.len());
        let mut first_error = None;
        for sent in self.sent {
            let outcome = match sent.ack {
                Ok(ack) => ack.await.map(drop).map_err(|e| Error::Publish {
                    event_id: sent.event_id,
                    subject: sent.subject,
                    reason: e.to_string(),
                }),
                Err(e) => Err(e),
            };
            match outcome {
                Ok(()) => {
                    metrics::histogram!("outbox_relay_wait_seconds").record(sent.waited_secs);
                    ids.push(sent.id);
                }
                Err(e) => {
                    metrics::counter!("outbox_publish_failures_total").increment(1);
                    first_error.get_or_insert(e);
                }
            }
        }
        Published {
            conn: self.conn,
            ids,
            first_error,
        }
    }
}

/// A batch whose publishes are acknowledged; committing its delete is what remains.
struct Published {
    conn: Kept,
    ids: Vec<i64>,
    first_error: Option<Error>,
}

impl Published {
    /// Commits the batch's delete and keeps the connection for the next batch. If some
    /// publishes failed, their rows must stay: the delete is rolled back and only the
    /// acknowledged rows are deleted. Returns how many rows were published, or the publish
    /// error if none was.
    async fn finish(mut self) -> Result<usize, Error> {
        if self.first_error.is_none() {
            sqlx::raw_sql("COMMIT").execute(&mut *self.conn).await?;
        } else {
            // Until the second statement, acknowledged rows are back in the table. A claim that
            // takes one meanwhile publishes it again (JetStream drops the copy) and deletes it
            // itself, so the delete skips rows locked by then: waiting for them could mean
            // waiting for a batch of this very drain, which finishes only after this one.
            sqlx::raw_sql("ROLLBACK").execute(&mut *self.conn).await?;
            if !self.ids.is_empty() {
                sqlx::query(
                    "DELETE FROM outbox WHERE id IN
                         (SELECT id FROM outbox WHERE id = ANY($1) FOR UPDATE SKIP LOCKED)",
                )
                .bind(&self.ids)
                .execute(&mut *self.conn)
                .await?;
            }
        }
        self.conn.release();
        metrics::counter!("outbox_published_total").increment(self.ids.len() as u64);
        match self.first_error {
            Some(e) if self.ids.is_empty() => Err(e),
            Some(e) => {
                tracing::warn!(error = %e, "some outbox rows were not published; will retry");
                Ok(self.ids.len())
            }
            None => Ok(self.ids.len()),
        }
    }
}

impl Relay {
    /// A relay over `pool`'s outbox publishing through `jetstream`.
    pub fn new(pool: PgPool, jetstream: jetstream::Context, settings: RelaySettings) -> Self {
        Self {
            connections: Connections::like(&pool, BATCHES_AT_ONCE),
            pool,
            jetstream,
            settings,
            waker: RelayWaker::default(),
        }
    }

    /// Makes `waker` (held by this process's writers) wake this relay.
    #[must_use]
    pub fn woken_by(mut self, waker: RelayWaker) -> Self {
        self.waker = waker;
        self
    }

    /// One step: claim and delete a batch, publish it, commit the delete of what was
    /// acknowledged. Returns how many rows were published. Errors leave unacknowledged rows in
    /// place for the next step.
    pub async fn step(&self) -> Result<usize, Error> {
        match self.claim_and_send().await? {
            Some(batch) => batch.acknowledged().await.finish().await,
            None => Ok(0),
        }
    }

    /// Claims a batch and sends its publishes without waiting for the acks; the batch's delete
    /// stays uncommitted (its rows locked) until it finishes. `None` when there was nothing to
    /// claim.
    async fn claim_and_send(&self) -> Result<Option<InFlight>, Error> {
        let mut conn = self.connections.acquire().await?;
        // The relay's commit only deletes what JetStream acknowledged. If a database crash loses
        // that commit, the rows are published again and JetStream drops the copies by
        // `Nats-Msg-Id`, so waiting for the disk flush here buys nothing but a slower cycle.
        // Both statements go in one round trip.
        sqlx::raw_sql("BEGIN; SET LOCAL synchronous_commit = off")
            .execute(&mut *conn)
            .await?;
        // Claim, ordering check and delete in one statement. A row is blocked while an earlier
        // row of its aggregate is still in the table but not in this batch (another relay holds
        // it, a batch of this relay still in flight holds it, or its publish failed); a blocked
        // row is only locked, every other claimed row is deleted. One snapshot is enough: an
        // aggregate's rows get their ids in commit order (writers lock the aggregate first), so
        // every earlier row of a claimed row's aggregate was committed before it and is visible
        // to the same snapshot. The delete is invisible to the rest of the statement, and to
        // other claims until it commits: for them the rows are still there, locked.
        let claimed: Vec<Row> = sqlx::query_as(
            "WITH claimed AS (
                 SELECT ctid, id, event_id, aggregate_id, aggregate_version, subject,
                        schema_name, payload, traceparent, tracestate, created_at
                 FROM outbox ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED),
             checked AS (
                 SELECT c.*, EXISTS (SELECT 1 FROM outbox o
                                     WHERE o.aggregate_id = c.aggregate_id AND o.id < c.id
                                       AND o.id NOT IN (SELECT id FROM claimed)) AS blocked
                 FROM claimed c),
             deleted AS (
                 DELETE FROM outbox
                 WHERE ctid = ANY (ARRAY(SELECT ctid FROM checked WHERE NOT blocked)))
             SELECT id, event_id, aggregate_id, aggregate_version, subject, schema_name, payload,
                    traceparent, tracestate,
                    extract(epoch FROM clock_timestamp() - created_at)::float8 AS waited_secs,
                    blocked
             FROM checked ORDER BY id",
        )
        .bind(self.settings.batch_size)
        .fetch_all(&mut *conn)
        .await?;
        if claimed.is_empty() {
            sqlx::raw_sql("COMMIT").execute(&mut *conn).await?;
            conn.release();
            return Ok(None);
        }

        let mut sent = Vec::new();
        let mut held_back: HashSet<&str> = HashSet::new();
        for row in &claimed {
            if row.blocked || held_back.contains(row.aggregate_id.as_str()) {
                // Keep the rest of this aggregate behind its blocked predecessor. No row skipped
                // here was deleted unless a send failed: a row after a blocked one is blocked too
                // (the earlier row outside the batch precedes it as well), and a failed send
                // rolls the whole delete back when the batch finishes.
                held_back.insert(&row.aggregate_id);
                continue;
            }
            let ack = self.send(row).await;
            if ack.is_err() {
                held_back.insert(&row.aggregate_id);
            }
            sent.push(Sent {
                id: row.id,
                event_id: row.event_id,
                subject: row.subject.clone(),
                waited_secs: row.waited_secs,
                ack,
            });
        }
        Ok(Some(InFlight {
            conn,
            full: claimed.len() as i64 >= self.settings.batch_size,
            held_back: sent.len() < claimed.len(),
            sent,
        }))
    }

    async fn send(&self, row: &Row) -> Result<PublishAckFuture, Error> {
        let mut header_map = HeaderMap::new();
        header_map.insert(headers::CONTENT_TYPE, headers::CONTENT_TYPE_PROTOBUF);
        header_map.insert(headers::SCHEMA, row.schema_name.as_str());
        header_map.insert(
            headers::AGGREGATE_VERSION,
            row.aggregate_version.to_string().as_str(),
        );
        if let Some(traceparent) = &row.traceparent {
            header_map.insert(headers::TRACEPARENT, traceparent.as_str());
        }
        if let Some(tracestate) = &row.tracestate {
            header_map.insert(headers::TRACESTATE, tracestate.as_str());
        }
        let message = PublishMessage::build()
            .payload(Bytes::copy_from_slice(&row.payload))
            .headers(header_map)
            .message_id(row.event_id.to_string());
        self.jetstream
            .send_publish(row.subject.clone(), message)
            .await
            .map_err(|e| Error::Publish {
                event_id: row.event_id,
                subject: row.subject.clone(),
                reason: e.to_string(),
            })
    }

    /// Runs steps until one publishes nothing. Rows another relay holds, or rows held back
    /// behind another relay's earlier rows of the same aggregate, are left for a later step.
    pub async fn drain(&self) -> Result<usize, Error> {
        let mut total = 0;
        loop {
            let n = self.step().await?;
            if n == 0 {
                return Ok(total);
            }
            total += n;
        }
    }

    /// [`Relay::drain`] for at most `within`, logging what it could not do: the last step of a
    /// stopping service, so that what its last requests committed goes out now rather than at
    /// the next start. NATS may be away; then the rows simply wait for the next relay. Returns
    /// how many events were published.
    pub async fn drain_within(&self, within: Duration) -> usize {
        match tokio::time::timeout(within, self.drain()).await {
            Ok(Ok(published)) => {
                if published > 0 {
                    tracing::info!(published, "published the last events before exiting");
                }
                published
            }
            Ok(Err(error)) => {
                tracing::warn!(%error, "events left in the outbox for the next relay");
                0
            }
            Err(_) => {
                tracing::warn!("events left in the outbox for the next relay (timed out)");
                0
            }
        }
    }

    /// Like [`Relay::drain`], but batches overlap: a batch is claimed and sent while earlier
    /// batches still wait for their acks or commit their delete, up to [`BATCHES_AT_ONCE`]
    /// batches (one connection each). Safe for order: a claim skips the rows of unfinished
    /// batches (locked) and holds back later rows of their aggregates (an earlier row is still
    /// in the table), and publishes go out in claim order on one connection.
    pub async fn drain_pipelined(&self) -> Result<usize, Error> {
        Ok(self.drain_overlapping().await?.published)
    }

    /// The loop of [`Relay::drain_pipelined`]. A claim never waits for an earlier batch's acks:
    /// a slow ack (nats-server paused for some milliseconds) would otherwise hold up every
    /// event committed meanwhile. After the first claim, it claims again only when that can find
    /// something: the last claim was full, this process's writers woke the relay since it
    /// began, or rows it held back behind this relay's own batches are free once those finish.
    /// An empty claim costs PostgreSQL three round trips, and at a steady rate most claims made
    /// without one of these reasons come back empty.
    async fn drain_overlapping(&self) -> Result<Drained, Error> {
        let mut published = 0;
        // Batches sent: each waits for its acks, then commits its delete.
        let mut unfinished = FuturesUnordered::new();
        let mut claiming: Option<BoxFuture<'_, Result<Option<InFlight>, Error>>> = None;
        let mut claim = true;
        // Whether the claim in progress began while batches of this relay were unfinished.
        let mut claim_overlapped = false;
        let mut retry_held_back = false;
        let mut covered = self.waker.wakes();
        loop {
            if claiming.is_none() {
                if unfinished.is_empty() {
                    // Nothing of ours holds or blocks the held-back rows any more.
                    claim |= std::mem::take(&mut retry_held_back);
                }
                if claim && unfinished.len() < BATCHES_AT_ONCE {
                    covered = self.waker.wakes();
                    claim_overlapped = !unfinished.is_empty();
                    claiming = Some(self.claim_and_send().boxed());
                    claim = false;
                } else if !claim && unfinished.is_empty() {
                    return Ok(Drained { published, covered });
                }
            }
            tokio::select! {
                claimed = async { claiming.as_mut().expect("guarded").await },
                    if claiming.is_some() =>
                {
                    claiming = None;
                    if let Some(batch) = claimed? {
                        // `|=`: a finish during the claim may already have asked for another.
                        claim |= batch.full;
                        // Held back behind our own batches: free once those finish. Held back
                        // with nothing of ours unfinished: another relay holds the earlier rows,
                        // so they wait for a later drain.
                        retry_held_back |= batch.held_back && claim_overlapped;
                        // A batch of only held-back rows sends nothing and finishes at once,
                        // releasing its locks.
                        let finishing = batch.acknowledged().then(Published::finish);
                        unfinished.push(finishing);
                    }
                    claim |= self.waker.wakes() != covered;
                }
                Some(finished) = unfinished.next() => {
                    let n = finished?;
                    published += n;
                    // Perhaps the batch the held-back rows wait for: retry now rather than once
                    // every batch has finished. The wish stays until then: the retry may find
                    // the rows still locked (by the batch that held them back, or behind
                    // another unfinished one) and come back empty. Not after a batch that
                    // published nothing: retrying on those would spin while the batch that
                    // blocks the rows waits for a slow ack.
                    claim |= n > 0 && retry_held_back;
                }
                () = self.waker.woken_since(covered), if !claim && claiming.is_none() => {
                    claim = true;
                }
            }
        }
    }

    /// Runs until `shutdown`: ensures the streams exist, then drains the outbox whenever this
    /// process's writers wake it, a notification arrives, or the poll interval passes. Failures
    /// (NATS or PostgreSQL down) are logged and retried; events simply wait in the outbox
    /// meanwhile.
    pub async fn run(self, streams: StreamSettings, shutdown: CancellationToken) {
        while let Err(e) = ensure_streams(&self.jetstream, &streams).await {
            tracing::warn!(error = %e, "streams not ready; retrying");
            if sleep_or_cancel(self.settings.retry_backoff * 4, &shutdown).await {
                return;
            }
        }
        let mut listener: Option<PgListener> = None;
        // Whether the last attempt to LISTEN failed: said once when it starts failing and once
        // when it works again, not on every retry while PostgreSQL is away.
        let mut listen_failed = false;
        loop {
            if shutdown.is_cancelled() {
                return;
            }
            if listener.is_none() {
                match self.listen().await {
                    Ok(l) => {
                        if listen_failed {
                            tracing::info!("outbox LISTEN works again");
                        }
                        listen_failed = false;
                        listener = Some(l);
                    }
                    Err(e) if !listen_failed => {
                        listen_failed = true;
                        tracing::warn!(
                            error = %e,
                            poll = ?self.settings.poll_interval,
                            "outbox LISTEN failed; relaying by polling until it works"
                        );
                    }
                    Err(_) => {}
                }
            }
            let covered = match self.drain_overlapping().await {
                Ok(drained) => drained.covered,
                Err(e) => {
                    tracing::warn!(error = %e, "outbox relay step failed; retrying");
                    if sleep_or_cancel(self.settings.retry_backoff, &shutdown).await {
                        return;
                    }
                    continue;
                }
            };
            let wait = tokio::time::sleep(self.settings.poll_interval);
            tokio::select! {
                () = shutdown.cancelled() => return,
                () = wait => {}
                () = self.waker.woken_since(covered) => {}
                notified = recv(&mut listener) => {
                    if let Err(e) = notified {
                        tracing::debug!(error = %e, "outbox LISTEN connection lost; re-listening");
                        listener = None;
                    }
                }
            }
        }
    }

    async fn listen(&self) -> Result<PgListener, sqlx::Error> {
        let mut listener = PgListener::connect_with(&self.pool).await?;
        listener.listen(crate::NOTIFY_CHANNEL).await?;
        Ok(listener)
    }
}

/// Waits for one notification; an error when the listener failed and must be rebuilt.
async fn recv(listener: &mut Option<PgListener>) -> Result<(), sqlx::Error> {
    match listener {
        Some(l) => l.recv().await.map(drop),
        None => std::future::pending().await,
    }
}

/// Sleeps, returning true if `shutdown` fired first.
async fn sleep_or_cancel(duration: Duration, shutdown: &CancellationToken) -> bool {
    tokio::select! {
        () = shutdown.cancelled() => true,
        () = tokio::time::sleep(duration) => false,
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::RelayWaker;

    #[tokio::test]
    async fn a_wake_after_the_count_was_read_is_never_missed() {
        let waker = RelayWaker::default();
        let seen = waker.wakes();
        let waiting = tokio::spawn({
            let waker = waker.clone();
            async move { waker.woken_since(seen).await }
        });
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(!waiting.is_finished(), "no wake yet");
        waker.wake();
        tokio::time::timeout(Duration::from_secs(5), waiting)
            .await
            .expect("woken")
            .unwrap();
        // Already past `seen`: returns at once.
        waker.woken_since(seen).await;
    }

    #[tokio::test]
    async fn an_old_permit_does_not_count_as_a_new_wake() {
        let waker = RelayWaker::default();
        waker.wake(); // leaves a permit behind
        let seen = waker.wakes();
        let waited = tokio::time::timeout(Duration::from_millis(50), waker.woken_since(seen)).await;
        assert!(waited.is_err(), "a wake the relay already covered woke it");
    }
}
