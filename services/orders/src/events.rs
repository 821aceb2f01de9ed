//! Turns domain events into contract events (`orderflow.orders.v1`) and outbox messages.

use orderflow_events::common::v1::EventMetadata;
use orderflow_events::orders::v1 as contract;
use orderflow_events::timestamp::to_timestamp;
use orderflow_outbox::OutboxMessage;
use time::OffsetDateTime;

use crate::domain::{DomainEvent, Order, OrderStatus};

/// Outbox messages for `events`, which `order` raised; `order` is the state after them, so the
/// first event's version is `order.version - events.len() + 1`.
pub fn to_outbox(
    order: &Order,
    events: &[DomainEvent],
    committed_at: OffsetDateTime,
) -> Result<Vec<OutboxMessage>, orderflow_events::Error> {
    let first_version = order.version + 1 - events.len() as u64;
    events
        .iter()
        .enumerate()
        .map(|(i, event)| {
            let metadata = EventMetadata::new(order.id.0, first_version + i as u64, committed_at);
            encode(order, event, metadata, committed_at)
        })
        .collect()
}

/// `OrderCreated` for `order`: also the description a confirmation repeats.
fn created(order: &Order, metadata: Option<EventMetadata>) -> contract::OrderCreated {
    contract::OrderCreated {
        metadata,
        order_id: order.id.to_string(),
        order_number: order.number.clone(),
        customer_id: order.customer_id.to_string(),
        customer_name: order.customer_name.clone(),
        lines: lines(order),
        total_minor: order.total().0,
        currency: order.currency.clone(),
        created_at: Some(to_timestamp(order.created_at)),
    }
}

fn encode(
    order: &Order,
    event: &DomainEvent,
    metadata: EventMetadata,
    at: OffsetDateTime,
) -> Result<OutboxMessage, orderflow_events::Error> {
    let metadata = Some(metadata);
    let order_id = order.id.to_string();
    let customer_id = order.customer_id.to_string();
    match event {
        DomainEvent::Created => OutboxMessage::from_event(&created(order, metadata)),
        DomainEvent::Confirmed => OutboxMessage::from_event(&contract::OrderConfirmed::of(
            created(order, None),
            metadata,
            Some(to_timestamp(at)),
        )),
        DomainEvent::StatusChanged { old, new } => {
            OutboxMessage::from_event(&contract::OrderStatusChanged {
                metadata,
                order_id,
                order_number: order.number.clone(),
                customer_id,
                old_status: status(*old) as i32,
                new_status: status(*new) as i32,
                updated_at: Some(to_timestamp(at)),
                reason: order
                    .cancel_reason
                    .clone()
                    .filter(|_| *new == OrderStatus::Cancelled)
                    .unwrap_or_default(),
            })
        }
        DomainEvent::Cancelled { reason } => OutboxMessage::from_event(&contract::OrderCancelled {
            metadata,
            order_id,
            order_number: order.number.clone(),
            customer_id,
            lines: lines(order),
            reason: reason.clone(),
            cancelled_at: Some(to_timestamp(at)),
        }),
    }
}

fn lines(order: &Order) -> Vec<contract::OrderLine> {
    order
        .lines
        .iter()
        .map(|l| contract::OrderLine {
            sku: l.sku.to_string(),
            product_name: l.product_name.clone(),
            quantity: l.quantity.get(),
            unit_price_minor: l.unit_price.0,
            line_total_minor: l.total().0,
        })
        .collect()
}

/// The contract's enum value for a domain status.
pub fn status(status: OrderStatus) -> contract::OrderStatus {
    match status {
        OrderStatus::Draft => contract::OrderStatus::Draft,
        OrderStatus::Confirmed => contract::OrderStatus::Confirmed,
        OrderStatus::Processing => contract::OrderStatus::Processing,
        OrderStatus::Shipped => contract::OrderStatus::Shipped,
        OrderStatus::Delivered => contract::OrderStatus::Delivered,
        OrderStatus::Cancelled => contract::OrderStatus::Cancelled,
    }
}
