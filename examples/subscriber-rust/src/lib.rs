//! Example external subscriber of OrderFlow order events, the Rust counterpart of
//! `examples/subscriber-ts`: one durable JetStream consumer of its own, each event
//! decoded by its `Orderflow-Schema` header with `orderflow-events`, handled, and only
//! then acknowledged. See this folder's README.md.
//!
//! The library part is what a test (or your service) calls; `src/main.rs` wires it to
//! environment variables and prints the events.

use std::time::Duration;

use anyhow::Context;
use async_nats::jetstream::{self, consumer::AckPolicy, consumer::DeliverPolicy, consumer::pull};
use futures::StreamExt;
use orderflow_events::{AnyEvent, decode_by_schema, headers, streams};

/// Default durable name: one per application, never a name the OrderFlow services use
/// (`inventory-orders`, `orders-reactions`), or the two would share (and steal) messages.
pub const DEFAULT_DURABLE: &str = "example-subscriber-rust";

/// One event as received: where it is in the stream, its subject and the decoded event.
#[derive(Debug, Clone, PartialEq)]
pub struct Received {
    /// The message's sequence in the `ORDERS` stream.
    pub stream_sequence: u64,
    /// The subject it was published on, e.g. `orders.v1.<customer>.<order>.created`.
    pub subject: String,
    /// The event, decoded by its `Orderflow-Schema` header.
    pub event: AnyEvent,
}

/// Creates the durable consumer `durable` on the `ORDERS` stream for subjects matching
/// `filter`, or finds it if it exists.
///
/// Explicit acks: the server redelivers what was not acked within its ack wait, so an
/// event is lost neither by a crash nor by a handler error.
pub async fn order_consumer(
    js: &jetstream::Context,
    durable: &str,
    filter: &str,
) -> anyhow::Result<jetstream::consumer::Consumer<pull::Config>> {
    let stream = js
        .get_stream(streams::ORDERS)
        .await
        .context("the ORDERS stream (the OrderFlow services create it)")?;
    let config = pull::Config {
        durable_name: Some(durable.to_owned()),
        filter_subject: filter.to_owned(),
        ack_policy: AckPolicy::Explicit,
        deliver_policy: DeliverPolicy::All,
        ..Default::default()
    };
    stream
        .get_or_create_consumer(durable, config)
        .await
        .with_context(|| format!("durable consumer {durable}"))
}

/// Receives events from `consumer` and calls `handle` for each, in stream order, acking
/// each after `handle` returned `Ok`.
///
/// Runs until the message stream ends, or, with `exit_when_idle`, until no message came
/// for that long (for tests and batch jobs). A schema this build does not know is a newer
/// event: it is logged, acked and skipped. A handler error stops the loop without acking,
/// so the event comes again.
pub async fn run(
    consumer: &jetstream::consumer::Consumer<pull::Config>,
    exit_when_idle: Option<Duration>,
    mut handle: impl FnMut(Received) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    let Some(idle) = exit_when_idle else {
        let mut messages = consumer.messages().await?;
        while let Some(message) = messages.next().await {
            settle(
                message.map_err(|e| anyhow::anyhow!("receiving: {e}"))?,
                &mut handle,
            )
            .await?;
        }
        return Ok(());
    };
    // Batches that expire after `idle`, each read to its end: a continuous pull would leave a
    // pull request open on the server when this returns, and a message published next would
    // go to it, unread, until `ack_wait` redelivers it to the next run.
    loop {
        let mut batch = consumer
            .fetch()
            .max_messages(100)
            .expires(idle)
            .messages()
            .await?;
        let mut any = false;
        while let Some(message) = batch.next().await {
            any = true;
            settle(
                message.map_err(|e| anyhow::anyhow!("receiving: {e}"))?,
                &mut handle,
            )
            .await?;
        }
        if !any {
            return Ok(());
        }
    }
}

/// Decodes one message, hands it to `handle` and acks it (see [`run`]).
async fn settle(
    message: jetstream::Message,
    handle: &mut impl FnMut(Received) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    let stream_sequence = message
        .info()
        .map_err(|e| anyhow::anyhow!("message info: {e}"))?
        .stream_sequence;
    let schema = message
        .headers
        .as_ref()
        .and_then(|h| h.get(headers::SCHEMA))
        .map(|v| v.as_str().to_owned())
        .unwrap_or_default();
    match decode_by_schema(&schema, &message.payload) {
        Ok(event) => handle(Received {
            stream_sequence,
            subject: message.subject.to_string(),
            event,
        })?,
        Err(orderflow_events::Error::UnknownSchema(_)) => {
            eprintln!("skipping seq {stream_sequence}: unknown schema {schema:?}");
        }
        Err(e) => return Err(e).context(format!("decoding seq {stream_sequence}")),
    }
    // Double ack waits for the server's confirmation, so an exit right after this cannot lose
    // the ack (and redeliver the event to the next run).
    message
        .double_ack()
        .await
        .map_err(|e| anyhow::anyhow!("acking seq {stream_sequence}: {e}"))
}
