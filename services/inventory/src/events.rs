//! Builds contract events (`orderflow.inventory.v1`) as outbox messages. Every product event
//! carries the product's version after the change, one gapless sequence across both kinds.

use orderflow_events::common::v1::EventMetadata;
use orderflow_events::inventory::v1::{
    ProductUpserted, ReservationRejected, StockLevelChanged, reservation_rejected::Shortage,
};
use orderflow_outbox::OutboxMessage;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::domain::Product;

/// `ProductUpserted` with the product's full catalog state at `product.version`.
pub fn product_upserted(
    product: &Product,
    at: OffsetDateTime,
) -> Result<OutboxMessage, orderflow_events::Error> {
    OutboxMessage::from_event(&ProductUpserted {
        metadata: metadata(product, at),
        product_id: product.id.to_string(),
        sku: product.sku.to_string(),
        name: product.name.clone(),
        unit_price_minor: product.unit_price.0,
        currency: product.currency.clone(),
        low_stock_threshold: product.low_stock_threshold,
    })
}

/// The metadata of a product event: the product is the aggregate, at its version after the
/// change.
fn metadata(product: &Product, at: OffsetDateTime) -> Option<EventMetadata> {
    Some(EventMetadata::new(
        product.id.0,
        version(product.version),
        at,
    ))
}

/// A change of level, as a `StockLevelChanged` event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LevelChange {
    /// Units before.
    pub old_level: i64,
    /// Units after.
    pub new_level: i64,
    /// Why: `reserved`, `released`, `initial stock` or an admin's reason.
    pub reason: String,
    /// The order that caused it, if any.
    pub order_id: Option<Uuid>,
}

/// `StockLevelChanged` for `product`, whose `version` and threshold are those after the change.
pub fn stock_level_changed(
    product: &Product,
    change: &LevelChange,
    at: OffsetDateTime,
) -> Result<OutboxMessage, orderflow_events::Error> {
    OutboxMessage::from_event(&StockLevelChanged {
        metadata: metadata(product, at),
        product_id: product.id.to_string(),
        sku: product.sku.to_string(),
        old_level: change.old_level,
        new_level: change.new_level,
        threshold: product.low_stock_threshold,
        reason: change.reason.clone(),
        order_id: change.order_id.map(|id| id.to_string()).unwrap_or_default(),
    })
}

/// One line that could not be filled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Short {
    /// The sku as the order named it.
    pub sku: String,
    /// Units asked for.
    pub requested: i64,
    /// Units available (0 for an unknown sku).
    pub available: i64,
    /// The catalog has no such sku.
    pub unknown: bool,
}

/// The customer-visible reason, e.g. `Out of stock: KB-001 (requested 3, available 1)`.
pub fn rejection_reason(shorts: &[Short]) -> String {
    let mut out_of_stock = Vec::new();
    let mut unknown = Vec::new();
    for s in shorts {
        if s.unknown {
            unknown.push(s.sku.clone());
        } else {
            out_of_stock.push(format!(
                "{} (requested {}, available {})",
                s.sku, s.requested, s.available
            ));
        }
    }
    let mut parts = Vec::new();
    if !out_of_stock.is_empty() {
        parts.push(format!("Out of stock: {}", out_of_stock.join(", ")));
    }
    if !unknown.is_empty() {
        parts.push(format!("Unknown product: {}", unknown.join(", ")));
    }
    parts.join("; ")
}

/// `ReservationRejected` answering the `OrderConfirmed` at `order_version`.
pub fn reservation_rejected(
    order_id: Uuid,
    customer_id: Uuid,
    order_version: u64,
    shorts: &[Short],
    at: OffsetDateTime,
) -> Result<OutboxMessage, orderflow_events::Error> {
    OutboxMessage::from_event(&ReservationRejected {
        metadata: Some(EventMetadata::new(order_id, order_version, at)),
        order_id: order_id.to_string(),
        customer_id: customer_id.to_string(),
        reason: rejection_reason(shorts),
        shortages: shorts
            .iter()
            .map(|s| Shortage {
                sku: s.sku.clone(),
                requested: s.requested,
                available: s.available,
            })
            .collect(),
    })
}

fn version(v: i64) -> u64 {
    u64::try_from(v).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reason_names_each_short_line() {
        let shorts = [
            Short {
                sku: "KB-001".into(),
                requested: 3,
                available: 1,
                unknown: false,
            },
            Short {
                sku: "MS-002".into(),
                requested: 2,
                available: 0,
                unknown: false,
            },
            Short {
                sku: "ZZ-9".into(),
                requested: 1,
                available: 0,
                unknown: true,
            },
        ];
        assert_eq!(
            rejection_reason(&shorts),
            "Out of stock: KB-001 (requested 3, available 1), MS-002 (requested 2, available 0); \
             Unknown product: ZZ-9"
        );
        assert_eq!(
            rejection_reason(&shorts[..1]),
            "Out of stock: KB-001 (requested 3, available 1)"
        );
    }
}
