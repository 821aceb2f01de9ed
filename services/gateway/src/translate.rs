//! Turns a stored event (live republished message or one read back from the stream) into the
//! hub message browsers receive, encoded once. Only the events browsers care about produce a
//! [`Delivery`]; the rest (product upserts, confirmations, …) yield `None`.

use std::sync::Arc;
use std::time::Instant;

use axum::extract::ws::Utf8Bytes;
use orderflow_events::inventory::v1::StockLevelChanged;
use orderflow_events::orders::v1::{OrderCreated, OrderStatus, OrderStatusChanged};
use orderflow_events::{AnyEvent, Timestamp, decode_by_schema, timestamp};
use time::format_description::well_known::Rfc3339;

use crate::protocol::client_methods::{self, ClientMethod, Position, StreamName};

/// Which groups a delivery is meant for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Audience {
    /// The order's customer group and the admin dashboard.
    CustomerAndDashboard,
    /// The admin dashboard only.
    Dashboard,
}

/// One encoded hub message, shared (behind an `Arc`) by every connection that receives it.
#[derive(Debug)]
pub struct Delivery {
    /// Stream position of the event.
    pub position: Position,
    /// The complete Invocation record (text, ending with the record separator).
    pub frame: Utf8Bytes,
    /// Who may receive it.
    pub audience: Audience,
    /// When the gateway received the event, for the delivery latency histogram.
    pub received_at: Instant,
}

/// Header names as the NATS client's own type, made at compile time: looking a header up by
/// `&str` validates the name and allocates a copy of it on every call, which was a tenth of
/// the gateway's instructions per delivery.
pub mod names {
    use async_nats::HeaderName;
    use orderflow_events::headers;

    /// `Nats-Stream`.
    pub const NATS_STREAM: HeaderName = HeaderName::from_static(headers::NATS_STREAM);
    /// `Nats-Sequence`.
    pub const NATS_SEQUENCE: HeaderName = HeaderName::from_static(headers::NATS_SEQUENCE);
    /// `Nats-Subject`.
    pub const NATS_SUBJECT: HeaderName = HeaderName::from_static(headers::NATS_SUBJECT);
    /// `Orderflow-Schema`.
    pub const SCHEMA: HeaderName = HeaderName::from_static(headers::SCHEMA);
}

/// The stream position a stored message carries in its `Nats-Stream` / `Nats-Sequence`
/// headers (added by republish and by direct gets alike).
pub fn position_of(headers: &async_nats::HeaderMap) -> Option<Position> {
    let stream: StreamName = headers.get(names::NATS_STREAM)?.as_str().parse().ok()?;
    let sequence = headers.get(names::NATS_SEQUENCE)?.as_str().parse().ok()?;
    Some(Position { stream, sequence })
}

/// Decodes and translates one event of schema `schema` whose position is known.
pub fn translate(schema: &str, payload: &[u8], position: Position) -> Option<Arc<Delivery>> {
    let event = match decode_by_schema(schema, payload) {
        Ok(event) => event,
        Err(error) => {
            tracing::warn!(%error, %position, "undecodable event skipped");
            return None;
        }
    };
    let (method, audience) = to_client_method(event, position)?;
    Some(Arc::new(Delivery {
        position,
        frame: Utf8Bytes::from(method.encode()),
        audience,
        received_at: Instant::now(),
    }))
}

/// The pure mapping from an event to the client call, used by live fan-out and replay alike so
/// both produce identical messages.
pub fn to_client_method(event: AnyEvent, position: Position) -> Option<(ClientMethod, Audience)> {
    match event {
        AnyEvent::OrderStatusChanged(e) => {
            Some((status_changed(e, position), Audience::CustomerAndDashboard))
        }
        AnyEvent::OrderCreated(e) => Some((created(e, position), Audience::Dashboard)),
        AnyEvent::StockLevelChanged(e) => low_stock(&e, position).map(|m| (m, Audience::Dashboard)),
        _ => None,
    }
}

fn rfc3339(ts: Option<&Timestamp>) -> String {
    ts.and_then(|t| timestamp::to_offset_date_time(t).ok())
        .and_then(|t| t.format(&Rfc3339).ok())
        .unwrap_or_default()
}

/// `ORDER_STATUS_SHIPPED` → `Shipped`, the vocabulary the browser shows.
fn status_name(raw: i32) -> &'static str {
    match OrderStatus::try_from(raw).unwrap_or(OrderStatus::Unspecified) {
        OrderStatus::Unspecified => "Unspecified",
        OrderStatus::Draft => "Draft",
        OrderStatus::Confirmed => "Confirmed",
        OrderStatus::Processing => "Processing",
        OrderStatus::Shipped => "Shipped",
        OrderStatus::Delivered => "Delivered",
        OrderStatus::Cancelled => "Cancelled",
    }
}

fn status_changed(e: OrderStatusChanged, position: Position) -> ClientMethod {
    ClientMethod::OrderStatusChanged(client_methods::OrderStatusChanged {
        updated_at: rfc3339(e.updated_at.as_ref()),
        new_status: status_name(e.new_status),
        old_status: status_name(e.old_status),
        order_id: e.order_id,
        order_number: e.order_number,
        position,
    })
}

fn created(e: OrderCreated, position: Position) -> ClientMethod {
    ClientMethod::NewOrderCreated(client_methods::NewOrderCreated {
        created_at: rfc3339(e.created_at.as_ref()),
        // Minor units to a decimal amount; exact for any realistic total (< 2^53 minor units).
        total: e.total_minor as f64 / 100.0,
        order_id: e.order_id,
        order_number: e.order_number,
        customer_name: e.customer_name,
        position,
    })
}

/// An alert exactly when the level crosses below the threshold: `old >= threshold > new`.
/// Later decreases below the threshold do not cross it again, so they raise nothing.
fn low_stock(e: &StockLevelChanged, position: Position) -> Option<ClientMethod> {
    (e.old_level >= e.threshold && e.threshold > e.new_level).then(|| {
        ClientMethod::LowStockAlert(client_methods::LowStockAlert {
            product_id: e.product_id.clone(),
            sku: e.sku.clone(),
            stock_level: e.new_level,
            threshold: e.threshold,
            position,
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pos() -> Position {
        Position {
            stream: StreamName::Inventory,
            sequence: 5,
        }
    }

    fn stock(old: i64, new: i64, threshold: i64) -> AnyEvent {
        AnyEvent::StockLevelChanged(StockLevelChanged {
            sku: "SKU-1".into(),
            product_id: "p1".into(),
            old_level: old,
            new_level: new,
            threshold,
            ..Default::default()
        })
    }

    #[test]
    fn low_stock_fires_only_on_the_crossing() {
        assert!(to_client_method(stock(10, 4, 5), pos()).is_some());
        assert!(
            to_client_method(stock(5, 4, 5), pos()).is_some(),
            "old == threshold counts"
        );
        assert!(
            to_client_method(stock(4, 3, 5), pos()).is_none(),
            "already below"
        );
        assert!(
            to_client_method(stock(10, 5, 5), pos()).is_none(),
            "reaching it is not below"
        );
        assert!(to_client_method(stock(3, 8, 5), pos()).is_none(), "restock");
    }

    #[test]
    fn statuses_use_the_browser_vocabulary() {
        assert_eq!(status_name(OrderStatus::Shipped as i32), "Shipped");
        assert_eq!(status_name(OrderStatus::Cancelled as i32), "Cancelled");
        assert_eq!(status_name(999), "Unspecified");
    }

    #[test]
    fn created_goes_to_the_dashboard_with_a_decimal_total() {
        let e = AnyEvent::OrderCreated(OrderCreated {
            total_minor: 1999,
            ..Default::default()
        });
        let (m, audience) = to_client_method(e, pos()).unwrap();
        assert_eq!(audience, Audience::Dashboard);
        assert!(m.encode().contains("\"total\":19.99"));
    }
}
