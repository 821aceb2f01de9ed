//! What inventory does with order events, inside the inbox consumer's transaction:
//! `OrderConfirmed` reserves every line or, if any line is short, nothing (and emits
//! `ReservationRejected`, on which the orders service cancels the order); `OrderCancelled`
//! releases what was reserved for that order, once. The per-order row in `order_reservations`
//! makes both idempotent beyond the inbox: a second confirmation, a cancel of an order never
//! reserved, or a second cancel changes nothing.

use std::collections::BTreeMap;

use orderflow_events::AnyEvent;
use orderflow_events::orders::v1::{OrderCancelled, OrderConfirmed, OrderLine};
use orderflow_events::subjects::OrderEventKind;
use orderflow_inbox::{Handler, HandlerError};
use sqlx::PgConnection;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::domain::MAX_UNITS;
use crate::error::InventoryError;
use crate::events::{self, LevelChange, Short};
use crate::store::{self, OrderState};

/// Name of the durable consumer on the ORDERS stream.
pub const CONSUMER: &str = "inventory-orders";
/// Reason on stock events caused by a reservation.
pub const RESERVED: &str = "reserved";
/// Reason on stock events caused by a release.
pub const RELEASED: &str = "released";

/// Subjects inventory consumes: confirmed and cancelled order events of every customer.
pub fn subjects() -> Vec<String> {
    [OrderEventKind::Confirmed, OrderEventKind::Cancelled]
        .into_iter()
        .map(|kind| format!("orders.v1.*.*.{}", kind.token()))
        .collect()
}

/// Applies order events to stock.
pub struct StockReservations;

impl Handler for StockReservations {
    /// Lock order, the same for every transaction that changes stock or reservations: first
    /// the orders' advisory locks (ascending key), then the product rows (ascending sku). A
    /// REST adjustment locks a single product and nothing after it, so it cannot close a cycle.
    async fn lock(&self, tx: &mut PgConnection, events: &[&AnyEvent]) -> Result<(), sqlx::Error> {
        let mut orders = Vec::with_capacity(events.len());
        let mut skus = Vec::new();
        for event in events {
            let (order_id, lines) = match event {
                AnyEvent::OrderConfirmed(e) => (&e.order_id, e.lines.as_slice()),
                // A release touches the products recorded for the order, found by its id.
                AnyEvent::OrderCancelled(e) => (&e.order_id, &[][..]),
                _ => continue,
            };
            // A malformed id is rejected by `handle` before it touches anything.
            if let Ok(id) = Uuid::parse_str(order_id) {
                orders.push(id);
            }
            skus.extend(lines.iter().map(|l| normalized(&l.sku)));
        }
        store::lock_orders(tx, &orders).await?;
        store::lock_products_for(tx, &skus, &orders).await
    }

    async fn handle(&self, tx: &mut PgConnection, event: &AnyEvent) -> Result<(), HandlerError> {
        let result = match event {
            AnyEvent::OrderConfirmed(e) => reserve(tx, e).await,
            AnyEvent::OrderCancelled(e) => release(tx, e).await,
            _ => Ok(()),
        };
        Ok(result?)
    }
}

fn malformed(what: impl Into<String>) -> InventoryError {
    InventoryError::MalformedEvent(what.into())
}

fn uuid(field: &str, raw: &str) -> Result<Uuid, InventoryError> {
    Uuid::parse_str(raw).map_err(|_| malformed(format!("{field} is not a UUID: {raw:?}")))
}

/// A line's sku as products store it.
fn normalized(sku: &str) -> String {
    sku.trim().to_ascii_uppercase()
}

/// Requested units per sku (lines of one sku are added up), in sku order.
fn requested(lines: &[OrderLine]) -> Result<BTreeMap<String, i64>, InventoryError> {
    if lines.is_empty() {
        return Err(malformed("an order without lines"));
    }
    let mut wanted: BTreeMap<String, i64> = BTreeMap::new();
    for line in lines {
        if line.quantity == 0 {
            return Err(malformed(format!("line {} has quantity 0", line.sku)));
        }
        *wanted.entry(normalized(&line.sku)).or_default() += i64::from(line.quantity);
    }
    if wanted.values().any(|q| *q > MAX_UNITS) {
        return Err(malformed("a line asks for more units than can exist"));
    }
    Ok(wanted)
}

async fn reserve(tx: &mut PgConnection, e: &OrderConfirmed) -> Result<(), InventoryError> {
    let metadata = e
        .metadata
        .as_ref()
        .ok_or_else(|| malformed("no metadata"))?;
    let order_id = uuid("order_id", &e.order_id)?;
    let customer_id = uuid("customer_id", &e.customer_id)?;
    let wanted = requested(&e.lines)?;
    let committed_at = metadata.committed_at_utc().ok().flatten();
    // Claim the order first: a concurrent or repeated confirmation of it waits here, then
    // finds the claim and does nothing.
    if !store::claim_order(tx, order_id, OrderState::Reserved, committed_at).await? {
        return Ok(());
    }
    let skus: Vec<&str> = wanted.keys().map(String::as_str).collect();
    let products = store::lock_by_skus(tx, &skus).await?;
    let shorts: Vec<Short> = wanted
        .iter()
        .filter_map(
            |(sku, &requested)| match products.iter().find(|p| p.sku.as_str() == sku) {
                None => Some(Short {
                    sku: sku.clone(),
                    requested,
                    available: 0,
                    unknown: true,
                }),
                Some(p) if p.stock_level < requested => Some(Short {
                    sku: sku.clone(),
                    requested,
                    available: p.stock_level,
                    unknown: false,
                }),
                Some(_) => None,
            },
        )
        .collect();
    let now = OffsetDateTime::now_utc();
    if !shorts.is_empty() {
        store::set_order_state(tx, order_id, OrderState::Rejected).await?;
        let rejection = events::reservation_rejected(
            order_id,
            customer_id,
            metadata.aggregate_version,
            &shorts,
            now,
        )?;
        orderflow_outbox::enqueue(tx, &[rejection]).await?;
        metrics::counter!("inventory_reservations_total", "outcome" => "rejected").increment(1);
        record_lag(committed_at, now);
        return Ok(());
    }
    let mut messages = Vec::with_capacity(products.len());
    let mut held = Vec::with_capacity(products.len());
    for p in &products {
        let quantity = wanted[p.sku.as_str()];
        // The rows are locked and were checked above; the conditional UPDATE (and the CHECK
        // behind it) still refuses to overdraw, rolling the whole reservation back.
        let after = store::move_units(tx, p.id, quantity, now)
            .await?
            .ok_or_else(|| malformed(format!("stock of {} changed under a lock", p.sku)))?;
        let change = LevelChange {
            old_level: p.stock_level,
            new_level: after.stock_level,
            reason: RESERVED.to_owned(),
            order_id: Some(order_id),
        };
        messages.push(events::stock_level_changed(&after, &change, now)?);
        held.push((p.id, quantity));
    }
    store::insert_lines(tx, order_id, &held).await?;
    orderflow_outbox::enqueue(tx, &messages).await?;
    metrics::counter!("inventory_reservations_total", "outcome" => "reserved").increment(1);
    record_lag(committed_at, now);
    Ok(())
}

async fn release(tx: &mut PgConnection, e: &OrderCancelled) -> Result<(), InventoryError> {
    let order_id = uuid("order_id", &e.order_id)?;
    let committed_at = e
        .metadata
        .as_ref()
        .and_then(|m| m.committed_at_utc().ok().flatten());
    // An order cancelled before we saw it confirmed must never be reserved later: record that.
    if store::claim_order(tx, order_id, OrderState::Cancelled, committed_at).await? {
        return Ok(());
    }
    if store::lock_order(tx, order_id).await? != Some(OrderState::Reserved) {
        return Ok(());
    }
    let now = OffsetDateTime::now_utc();
    let mut messages = Vec::new();
    for (product_id, quantity) in store::load_lines(tx, order_id).await? {
        let after = store::move_units(tx, product_id, -quantity, now)
            .await?
            .ok_or_else(|| malformed(format!("reserved units of {product_id} went missing")))?;
        let change = LevelChange {
            old_level: after.stock_level - quantity,
            new_level: after.stock_level,
            reason: RELEASED.to_owned(),
            order_id: Some(order_id),
        };
        messages.push(events::stock_level_changed(&after, &change, now)?);
    }
    store::set_order_state(tx, order_id, OrderState::Released).await?;
    orderflow_outbox::enqueue(tx, &messages).await?;
    metrics::counter!("inventory_releases_total").increment(1);
    Ok(())
}

/// Time from the orders service's commit of the event to our decision.
fn record_lag(committed_at: Option<OffsetDateTime>, now: OffsetDateTime) {
    if let Some(at) = committed_at {
        let lag = (now - at).as_seconds_f64().max(0.0);
        metrics::histogram!("inventory_reservation_lag_seconds").record(lag);
    }
}
