//! The order-update source: real `OrderStatusChanged` protobuf events published to JetStream the
//! way the outbox relay does (subject from the `Event` trait, `Nats-Msg-Id` and schema headers),
//! paced to a target rate ([`drive`]) or as fast as the consumers keep up ([`flood`]),
//! acknowledgements awaited concurrently so that the rate holds.
//!
//! Every acknowledged publish is returned with its customer and stream sequence: the ledger
//! that clients' receipts are checked against.

use std::future::Future;
use std::time::{Duration, Instant};

use async_nats::jetstream;
use futures::StreamExt;
use futures::stream::FuturesUnordered;
use orderflow_events::common::v1::EventMetadata;
use orderflow_events::orders::v1::{OrderStatus, OrderStatusChanged};
use orderflow_events::{Event, headers, timestamp};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::error::Error;

/// Publish acknowledgements allowed in flight before the publisher waits for one.
const MAX_IN_FLIGHT: usize = 4096;

/// One acknowledged publish.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Acked {
    /// Index of the event's customer in the `customers` slice given to [`drive`].
    pub customer: usize,
    /// Its sequence in the stream that stored it (`ORDERS`).
    pub sequence: u64,
}

/// Publishes `rate` events per second (fractions allowed: a broadcast to thousands of
/// connections needs only a few events a second), round-robin over `customers`, until `stop`
/// resolves; then waits for the outstanding acknowledgements and returns every acknowledged
/// publish, in acknowledgement order.
pub async fn drive(
    js: &jetstream::Context,
    customers: &[Uuid],
    rate: f64,
    stop: impl Future<Output = ()>,
) -> Result<Vec<Acked>, Error> {
    let start = Instant::now();
    let due = move || (start.elapsed().as_secs_f64() * rate) as u64;
    publish(js, customers, Duration::from_millis(5), due, stop).await
}

/// Publishes as fast as `allowed` lets it, round-robin over `customers`, until `stop` resolves:
/// `allowed()` is how many events may have been published by now (the caller bounds what
/// is published but not yet delivered, so that "as fast as possible" measures what the system
/// under test sustains rather than how deep its queues are). Returns like [`drive`].
pub async fn flood(
    js: &jetstream::Context,
    customers: &[Uuid],
    allowed: impl Fn() -> u64,
    stop: impl Future<Output = ()>,
) -> Result<Vec<Acked>, Error> {
    // A short tick: a closed window reopens as deliveries arrive, and each tick of waiting is
    // throughput lost.
    publish(js, customers, Duration::from_millis(1), allowed, stop).await
}

/// Publishes until `stop`, every `tick` catching up to `due()` events in total.
async fn publish(
    js: &jetstream::Context,
    customers: &[Uuid],
    tick: Duration,
    due: impl Fn() -> u64,
    stop: impl Future<Output = ()>,
) -> Result<Vec<Acked>, Error> {
    let nats = |e: &dyn std::fmt::Display| Error::Nats(e.to_string());
    if customers.is_empty() {
        return Ok(Vec::new());
    }
    let mut sent: u64 = 0;
    let mut acked = Vec::new();
    let mut in_flight = FuturesUnordered::new();
    let mut tick = tokio::time::interval(tick);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut stop = std::pin::pin!(stop);
    loop {
        tokio::select! {
            _ = &mut stop => break,
            _ = tick.tick() => {}
        }
        // At most one in-flight window per tick, so that `stop` is looked at even when `due`
        // is unbounded.
        let due = due().min(sent + MAX_IN_FLIGHT as u64);
        while sent < due {
            let customer = (sent % customers.len() as u64) as usize;
            let (subject, map, payload) = message(customers[customer])?;
            let ack = js
                .publish_with_headers(subject, map, payload.into())
                .await
                .map_err(|e| nats(&e))?;
            in_flight.push(async move { (customer, ack.await) });
            sent += 1;
            while in_flight.len() >= MAX_IN_FLIGHT {
                if let Some((customer, r)) = in_flight.next().await {
                    let sequence = r.map_err(|e| nats(&e))?.sequence;
                    acked.push(Acked { customer, sequence });
                }
            }
        }
        // Collect whatever acknowledgements are already there without waiting.
        while let Some(Some((customer, r))) = futures::FutureExt::now_or_never(in_flight.next()) {
            let sequence = r.map_err(|e| nats(&e))?.sequence;
            acked.push(Acked { customer, sequence });
        }
    }
    while let Some((customer, r)) = in_flight.next().await {
        let sequence = r.map_err(|e| nats(&e))?.sequence;
        acked.push(Acked { customer, sequence });
    }
    Ok(acked)
}

/// Publishes one status change of `customer` and returns its stream sequence once JetStream
/// acknowledged it.
pub async fn one(js: &jetstream::Context, customer: Uuid) -> Result<u64, Error> {
    let nats = |e: &dyn std::fmt::Display| Error::Nats(e.to_string());
    let (subject, map, payload) = message(customer)?;
    let ack = js
        .publish_with_headers(subject, map, payload.into())
        .await
        .map_err(|e| nats(&e))?;
    Ok(ack.await.map_err(|e| nats(&e))?.sequence)
}

/// Subject, headers and payload of a fresh status change of `customer`, as the relay sends it.
fn message(customer: Uuid) -> Result<(String, async_nats::HeaderMap, Vec<u8>), Error> {
    let nats = |e: &dyn std::fmt::Display| Error::Nats(e.to_string());
    let event = status_changed(customer);
    let mut map = async_nats::HeaderMap::new();
    for (name, value) in headers::for_event(&event).map_err(|e| nats(&e))? {
        map.insert(name, value.as_str());
    }
    let subject = event.subject().map_err(|e| nats(&e))?;
    Ok((subject, map, prost::Message::encode_to_vec(&event)))
}

/// A status change for a fresh order of `customer`, stamped with the current time: the moment
/// the outbox would have committed it.
fn status_changed(customer: Uuid) -> OrderStatusChanged {
    let order = Uuid::now_v7();
    let now = OffsetDateTime::now_utc();
    OrderStatusChanged {
        metadata: Some(EventMetadata::new(order, 2, now)),
        order_id: order.to_string(),
        order_number: format!("ORD-{}", &order.simple().to_string()[20..]),
        customer_id: customer.to_string(),
        old_status: OrderStatus::Confirmed as i32,
        new_status: OrderStatus::Shipped as i32,
        updated_at: Some(timestamp::to_timestamp(now)),
        reason: String::new(),
    }
}
