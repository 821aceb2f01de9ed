//! What inventory does with order events, inside the inbox consumer's transaction:
//! `OrderConfirmed` reserves every line or, if any line is short, nothing (and emits
//! `ReservationRejected`, on which the orders service cancels the order); `OrderCancelled`
//! releases what was reserved for that order, once. The per-order row in `order_reservations`
//! makes both idempotent beyond the inbox: a second confirmation, a cancel of an order never
//! reserved, or a second cancel changes nothing.
//!
//! A batch of events is applied set-based: the events are parsed, every order and product they
//! touch is locked and read in a few statements (in the global lock order, see
//! [`store::lock_orders`]), the events are applied in delivery order in memory ([`ledger`]),
//! and the outcome is written back with one statement per table. A batch costs seven
//! statements however many events it holds, which is what lets inventory keep up with the
//! orders service (docs/benchmarks.md).

mod ledger;
pub mod store;

use std::collections::BTreeMap;

use orderflow_events::AnyEvent;
use orderflow_events::orders::v1::{OrderCancelled, OrderConfirmed, OrderLine};
use orderflow_events::subjects::OrderEventKind;
use orderflow_inbox::{EventFailed, Handler, HandlerError};
use sqlx::PgConnection;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::domain::MAX_UNITS;
use crate::error::InventoryError;

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
    async fn handle(&self, tx: &mut PgConnection, event: &AnyEvent) -> Result<(), HandlerError> {
        self.handle_batch(tx, &[event]).await.map_err(|e| e.error)
    }

    async fn handle_batch(
        &self,
        tx: &mut PgConnection,
        events: &[&AnyEvent],
    ) -> Result<(), EventFailed> {
        // Every event is checked before anything is written, so a malformed one costs the
        // consumer's replay of the batch nothing but this parse.
        let commands = events
            .iter()
            .enumerate()
            .map(|(index, event)| {
                command(event).map_err(|e| EventFailed {
                    index,
                    error: e.into(),
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        ledger::apply(tx, &commands).await
    }
}

/// What one event asks of inventory, parsed and checked.
#[derive(Debug)]
enum Command {
    Reserve(Reserve),
    Release {
        order_id: Uuid,
        committed_at: Option<OffsetDateTime>,
    },
    /// An event inventory does not act on.
    Ignore,
}

/// A confirmed order to reserve stock for.
#[derive(Debug)]
struct Reserve {
    order_id: Uuid,
    customer_id: Uuid,
    order_version: u64,
    committed_at: Option<OffsetDateTime>,
    /// Requested units per sku, in sku order (the order products are locked and changed in).
    wanted: BTreeMap<String, i64>,
}

fn command(event: &AnyEvent) -> Result<Command, InventoryError> {
    Ok(match event {
        AnyEvent::OrderConfirmed(e) => Command::Reserve(reserve(e)?),
        AnyEvent::OrderCancelled(e) => release(e)?,
        _ => Command::Ignore,
    })
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

fn reserve(e: &OrderConfirmed) -> Result<Reserve, InventoryError> {
    let metadata = e
        .metadata
        .as_ref()
        .ok_or_else(|| malformed("no metadata"))?;
    Ok(Reserve {
        order_id: uuid("order_id", &e.order_id)?,
        customer_id: uuid("customer_id", &e.customer_id)?,
        order_version: metadata.aggregate_version,
        committed_at: metadata.committed_at_utc().ok().flatten(),
        wanted: requested(&e.lines)?,
    })
}

fn release(e: &OrderCancelled) -> Result<Command, InventoryError> {
    Ok(Command::Release {
        order_id: uuid("order_id", &e.order_id)?,
        committed_at: e
            .metadata
            .as_ref()
            .and_then(|m| m.committed_at_utc().ok().flatten()),
    })
}
