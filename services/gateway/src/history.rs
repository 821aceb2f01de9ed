//! Reading events back from the JetStream streams without creating consumers: batched direct
//! gets (`$JS.API.DIRECT.GET.<stream>` with `batch` and `next_by_subj`, nats-server 2.11+),
//! which any replica answers and which cost the server no state. The feed fills gaps with them
//! and resumes read what is older than the in-memory window with them, filtered to the
//! subjects the connection may see, so a customer's resume reads that customer's events only.
//!
//! A time-based replay finds where to start with one direct get by `start_time`.
//!
//! The stream's bounds come from `STREAM.INFO`, which the stream leader answers, so they are
//! never behind what a replica holds.

use std::time::Duration;

use async_nats::jetstream;
use async_nats::jetstream::ErrorCode;
use async_nats::jetstream::context::GetStreamErrorKind;
use futures::StreamExt;
use serde::Serialize;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::protocol::StreamName;
use crate::stored::StoredEvent;

/// How long one request may take before it counts as failed.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);
/// Status of the message that ends a batch ("204 EOB").
const END_OF_BATCH: u16 = 204;
/// Header of the end-of-batch message: messages matching the filter after the batch.
const NUM_PENDING: &str = "Nats-Num-Pending";

/// Why a read failed.
#[derive(Debug, thiserror::Error)]
pub enum HistoryError {
    /// NATS or JetStream did not answer as expected (down, restarting, timed out).
    #[error("stream read failed: {0}")]
    Unavailable(String),
}

fn unavailable(e: impl std::fmt::Display) -> HistoryError {
    HistoryError::Unavailable(e.to_string())
}

/// First and last sequence a stream holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bounds {
    /// Oldest sequence still stored.
    pub first: u64,
    /// Newest sequence stored (0 when nothing was ever stored).
    pub last: u64,
}

/// One batch read.
pub struct Batch {
    /// The messages, in stream order.
    pub events: Vec<StoredEvent>,
    /// Matching messages after this batch.
    pub pending: u64,
}

#[derive(Serialize)]
struct BatchRequest<'a> {
    seq: u64,
    batch: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    next_by_subj: Option<&'a str>,
}

/// A direct get by store time (nats-server answers `start_time` with the messages from the
/// first one stored at or after it; it must not be combined with `seq`).
#[derive(Serialize)]
struct TimeRequest<'a> {
    start_time: &'a str,
    batch: usize,
}

/// Reads streams through one NATS connection.
#[derive(Clone)]
pub struct History {
    client: async_nats::Client,
    jetstream: jetstream::Context,
}

impl History {
    /// Reads through `client`.
    pub fn new(client: async_nats::Client) -> Self {
        History {
            jetstream: jetstream::new(client.clone()),
            client,
        }
    }

    /// The stream's bounds, or `None` if the stream does not exist (yet).
    pub async fn bounds(&self, stream: StreamName) -> Result<Option<Bounds>, HistoryError> {
        match self.jetstream.get_stream(stream.as_str()).await {
            Ok(s) => {
                let state = &s.cached_info().state;
                Ok(Some(Bounds {
                    first: state.first_sequence,
                    last: state.last_sequence,
                }))
            }
            Err(e) => match e.kind() {
                GetStreamErrorKind::JetStream(js)
                    if js.error_code() == ErrorCode::STREAM_NOT_FOUND =>
                {
                    Ok(None)
                }
                _ => Err(unavailable(e)),
            },
        }
    }

    /// Up to `max` messages from sequence `from` on, only those matching `filter` if given.
    pub async fn batch(
        &self,
        stream: StreamName,
        from: u64,
        filter: Option<&str>,
        max: usize,
    ) -> Result<Batch, HistoryError> {
        let request = BatchRequest {
            seq: from.max(1),
            batch: max.max(1),
            next_by_subj: filter,
        };
        self.direct_get_batch(stream, &request).await
    }

    /// The sequence of the first message stored at or after `time` (the server's store time,
    /// found by the server's own binary search over its blocks: one request, however long the
    /// stream), or `None` when nothing was stored since.
    pub async fn first_since(
        &self,
        stream: StreamName,
        time: OffsetDateTime,
    ) -> Result<Option<u64>, HistoryError> {
        let start_time = time.format(&Rfc3339).map_err(unavailable)?;
        // A batch of one, not a plain get: a batch steps over deleted messages to the next one.
        let request = TimeRequest {
            start_time: &start_time,
            batch: 1,
        };
        let batch = self.direct_get_batch(stream, &request).await?;
        Ok(batch.events.first().map(|e| e.position.sequence))
    }

    /// Sends one batched direct get and collects its messages until the end of the batch.
    async fn direct_get_batch(
        &self,
        stream: StreamName,
        request: &impl Serialize,
    ) -> Result<Batch, HistoryError> {
        let body = serde_json::to_vec(request).map_err(unavailable)?;
        let inbox = self.client.new_inbox();
        let mut replies = self
            .client
            .subscribe(inbox.clone())
            .await
            .map_err(unavailable)?;
        self.client
            .publish_with_reply(direct_get_subject(stream), inbox, body.into())
            .await
            .map_err(unavailable)?;
        let mut events = Vec::new();
        loop {
            let reply = match tokio::time::timeout(REQUEST_TIMEOUT, replies.next()).await {
                Ok(Some(reply)) => reply,
                Ok(None) => return Err(unavailable("the NATS connection closed")),
                Err(_) => return Err(unavailable("direct get timed out")),
            };
            match reply.status.map(|s| s.as_u16()) {
                None | Some(200) => match StoredEvent::from_message(&reply) {
                    Some(event) => events.push(event),
                    None => return Err(unavailable("direct get reply without a position")),
                },
                Some(END_OF_BATCH) => {
                    let pending = reply
                        .headers
                        .as_ref()
                        .and_then(|h| h.get(NUM_PENDING))
                        .and_then(|v| v.as_str().parse().ok())
                        .unwrap_or(0);
                    return Ok(Batch { events, pending });
                }
                // Nothing at or after `from` matches.
                Some(404) => return Ok(Batch { events, pending: 0 }),
                Some(code) => {
                    let why = reply.description.unwrap_or_default();
                    return Err(unavailable(format!("direct get answered {code} {why}")));
                }
            }
        }
    }

    /// Whether the stream still holds `sequence` (retention removes the oldest first).
    pub async fn holds(&self, stream: StreamName, sequence: u64) -> Result<bool, HistoryError> {
        let stream = self
            .jetstream
            .get_stream_no_info(stream.as_str())
            .await
            .map_err(unavailable)?;
        match stream.direct_get(sequence).await {
            Ok(_) => Ok(true),
            Err(e) if e.kind() == jetstream::stream::DirectGetErrorKind::NotFound => Ok(false),
            Err(e) => Err(unavailable(e)),
        }
    }
}

fn direct_get_subject(stream: StreamName) -> String {
    format!("$JS.API.DIRECT.GET.{}", stream.as_str())
}
