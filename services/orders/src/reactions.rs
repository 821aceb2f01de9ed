//! What the orders service does with other services' events: keep the local catalog current
//! (`ProductUpserted`) and cancel orders whose stock could not be reserved
//! (`ReservationRejected`). Runs inside the inbox consumer's transaction.

use orderflow_events::AnyEvent;
use orderflow_events::inventory::v1::{ProductUpserted, ReservationRejected};
use orderflow_inbox::{Handler, HandlerError};
use sqlx::PgConnection;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::domain::{Command, Money, OrderId, OrderStatus, ProductId, Sku};
use crate::events::to_outbox;
use crate::store::{self, CatalogEntry};

/// Name of the durable consumer on the INVENTORY stream.
pub const CONSUMER: &str = "orders-reactions";

/// Subjects the orders service consumes.
pub fn subjects() -> Vec<String> {
    vec![
        "inventory.v1.products.*.upserted".to_owned(),
        orderflow_events::subjects::ALL_RESERVATION_REJECTIONS.to_owned(),
    ]
}

/// Applies inventory events to the orders database.
pub struct Reactions;

impl Handler for Reactions {
    async fn handle(&self, tx: &mut PgConnection, event: &AnyEvent) -> Result<(), HandlerError> {
        match event {
            AnyEvent::ProductUpserted(p) => upsert_product(tx, p).await,
            AnyEvent::ReservationRejected(r) => cancel_rejected(tx, r).await,
            _ => Ok(()),
        }
    }
}

fn permanent(what: &str) -> HandlerError {
    HandlerError::Permanent(what.to_owned())
}

async fn upsert_product(tx: &mut PgConnection, p: &ProductUpserted) -> Result<(), HandlerError> {
    let metadata = p
        .metadata
        .as_ref()
        .ok_or_else(|| permanent("no metadata"))?;
    let entry = CatalogEntry {
        product_id: ProductId(
            Uuid::parse_str(&p.product_id).map_err(|_| permanent("bad product id"))?,
        ),
        sku: Sku::parse(&p.sku).map_err(|e| permanent(&e.to_string()))?,
        name: p.name.clone(),
        unit_price: Money(p.unit_price_minor),
        currency: p.currency.clone(),
    };
    let at = metadata
        .committed_at_utc()
        .ok()
        .flatten()
        .unwrap_or_else(OffsetDateTime::now_utc);
    let version =
        i64::try_from(metadata.aggregate_version).map_err(|_| permanent("bad version"))?;
    store::apply_product_upserted(tx, &entry, version, at).await?;
    Ok(())
}

/// Stock could not be reserved: a confirmed order becomes Cancelled with the reason, which the
/// customer sees. An order that moved on meanwhile (an admin cancelled it) is left alone.
async fn cancel_rejected(
    tx: &mut PgConnection,
    r: &ReservationRejected,
) -> Result<(), HandlerError> {
    let id = OrderId(Uuid::parse_str(&r.order_id).map_err(|_| permanent("bad order id"))?);
    let Some(mut order) = store::load_order_for_update(tx, id).await? else {
        return Err(permanent("reservation rejected for an unknown order"));
    };
    if order.status != OrderStatus::Confirmed {
        return Ok(());
    }
    let reason = if r.reason.is_empty() {
        "Out of stock".to_owned()
    } else {
        r.reason.clone()
    };
    let now = OffsetDateTime::now_utc();
    let events = order
        .handle(&Command::Cancel { reason }, now)
        .map_err(|e| permanent(&e.to_string()))?;
    store::save_transition(tx, &order).await?;
    let messages = to_outbox(&order, &events, now).map_err(|e| permanent(&e.to_string()))?;
    orderflow_outbox::enqueue(tx, &messages)
        .await
        .map_err(|e| match e {
            orderflow_outbox::Error::Database(e) => HandlerError::Transient(e),
            other => permanent(&other.to_string()),
        })?;
    Ok(())
}
