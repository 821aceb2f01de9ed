//! `OrderConfirmed` carries the same description of the order as `OrderCreated` (its lines,
//! total and customer), so a confirmation is made from the creation's fields instead of listing
//! them again.

use crate::common::v1::EventMetadata;
use crate::orders::v1::{OrderConfirmed, OrderCreated};

impl OrderConfirmed {
    /// The confirmation of the order `created` describes, with its own `metadata`, at
    /// `confirmed_at`.
    pub fn of(
        created: OrderCreated,
        metadata: Option<EventMetadata>,
        confirmed_at: Option<prost_types::Timestamp>,
    ) -> Self {
        Self {
            metadata,
            order_id: created.order_id,
            order_number: created.order_number,
            customer_id: created.customer_id,
            customer_name: created.customer_name,
            lines: created.lines,
            total_minor: created.total_minor,
            currency: created.currency,
            confirmed_at,
        }
    }
}
