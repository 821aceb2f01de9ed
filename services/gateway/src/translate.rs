//! Turns a stored event (live republished message or one read back from the stream) into the
//! hub message browsers receive, encoded once per hub protocol. Only the events browsers care
//! about produce a [`Delivery`]; the rest (product upserts, confirmations, …) yield `None`.

use std::sync::Arc;
use std::time::Instant;

use orderflow_events::inventory::v1::StockLevelChanged;
use orderflow_events::orders::v1::{OrderCreated, OrderStatus, OrderStatusChanged};
use orderflow_events::{AnyEvent, Event, Timestamp, decode_by_schema, headers, timestamp};

use crate::protocol::client_methods::{self, ClientMethod, HubTime, Position};
use crate::protocol::{Frame, Protocol};

/// Which groups a delivery is meant for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Audience {
    /// The order's customer group and the admin dashboard.
    CustomerAndDashboard,
    /// The admin dashboard only.
    Dashboard,
    /// Connections watching stock levels (`WatchStock`); live only, never replayed.
    StockWatchers,
}

/// One encoded hub message, shared (behind an `Arc`) by every connection that receives it.
#[derive(Debug)]
pub struct Delivery {
    /// Stream position of the event.
    pub position: Position,
    /// The complete Invocation message in one protocol (JSON: text ending with the record
    /// separator; MessagePack: binary with its length prefix).
    pub frame: Frame,
    /// Who may receive it.
    pub audience: Audience,
    /// When the gateway received the event, for the delivery latency histogram.
    pub received_at: Instant,
}

/// The headers of a stored message the gateway reads, found in one pass: over the general
/// client's map (a lookup hashes its name with SipHash, and six lookups per delivery cost more
/// than comparing the nine names a republished message carries), or over the raw header block
/// of the direct live link.
#[derive(Debug, Default)]
pub struct StoredHeaders<'a> {
    /// `Nats-Stream`.
    pub stream: Option<&'a str>,
    /// `Nats-Sequence`.
    pub sequence: Option<&'a str>,
    /// `Nats-Subject`: the stored subject (republish and direct gets).
    pub subject: Option<&'a str>,
    /// `Orderflow-Schema`.
    pub schema: Option<&'a str>,
    /// `traceparent` (W3C Trace Context, set by the outbox relay).
    pub traceparent: Option<&'a str>,
    /// `tracestate`.
    pub tracestate: Option<&'a str>,
}

impl<'a> StoredHeaders<'a> {
    /// Reads the general client's map (the first value of each header).
    pub fn read(map: &'a async_nats::HeaderMap) -> StoredHeaders<'a> {
        let mut found = StoredHeaders::default();
        for (name, values) in map.iter() {
            let name: &str = name.as_ref();
            if let (Some((_, slot)), Some(value)) = (found.slot(name.as_bytes()), values.first()) {
                slot.get_or_insert(value.as_str());
            }
        }
        found
    }

    /// Reads a raw header block (the direct live link's); the first value of a repeated header
    /// wins (and one that is not text counts as absent). Only the values kept are checked.
    pub fn from_block(block: crate::live_link::wire::Headers<'a>) -> StoredHeaders<'a> {
        let mut found = StoredHeaders::default();
        let mut decided = 0u8;
        for (name, value) in block.fields() {
            if let Some((bit, slot)) = found.slot(name)
                && decided & bit == 0
            {
                decided |= bit;
                *slot = crate::live_link::wire::value_str(value);
            }
        }
        found
    }

    /// Where the value of header `name` goes, if it is one the gateway reads, with a bit of
    /// its own.
    fn slot(&mut self, name: &[u8]) -> Option<(u8, &mut Option<&'a str>)> {
        let is = |known: &str| name == known.as_bytes();
        Some(if is(headers::NATS_STREAM) {
            (1, &mut self.stream)
        } else if is(headers::NATS_SEQUENCE) {
            (2, &mut self.sequence)
        } else if is(headers::NATS_SUBJECT) {
            (4, &mut self.subject)
        } else if is(headers::SCHEMA) {
            (8, &mut self.schema)
        } else if is(headers::TRACEPARENT) {
            (16, &mut self.traceparent)
        } else if is(headers::TRACESTATE) {
            (32, &mut self.tracestate)
        } else {
            return None;
        })
    }

    /// The stream position (added by republish and by direct gets alike).
    pub fn position(&self) -> Option<Position> {
        Some(Position {
            stream: self.stream?.parse().ok()?,
            sequence: self.sequence?.parse().ok()?,
        })
    }
}

/// The stream position a stored message carries in its `Nats-Stream` / `Nats-Sequence`
/// headers.
pub fn position_of(map: &async_nats::HeaderMap) -> Option<Position> {
    StoredHeaders::read(map).position()
}

/// Decodes and translates one event of schema `schema` whose position is known, encoded in
/// `protocol`.
pub fn translate(
    schema: &str,
    payload: &[u8],
    position: Position,
    protocol: Protocol,
) -> Option<Arc<Delivery>> {
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
        frame: method.encode(protocol),
        audience,
        received_at: Instant::now(),
    }))
}

/// The `StockLevelChanged` hub message for stock watchers of a stored `StockLevelChanged`
/// event, encoded in `protocol`; `None` for any other event. Separate from [`translate`]
/// because one stock event can make two messages: this one for watchers and a `LowStockAlert`
/// for the dashboard.
pub fn translate_stock_level(
    payload: &[u8],
    position: Position,
    protocol: Protocol,
) -> Option<Arc<Delivery>> {
    let event = match decode_by_schema(StockLevelChanged::SCHEMA_NAME, payload) {
        Ok(AnyEvent::StockLevelChanged(event)) => event,
        Ok(_) => return None,
        Err(error) => {
            tracing::warn!(%error, %position, "undecodable stock event skipped");
            return None;
        }
    };
    Some(Arc::new(Delivery {
        position,
        frame: stock_level(event).encode(protocol),
        audience: Audience::StockWatchers,
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

fn hub_time(ts: Option<&Timestamp>) -> HubTime {
    HubTime::new(ts.and_then(|t| timestamp::to_offset_date_time(t).ok()))
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
        updated_at: hub_time(e.updated_at.as_ref()),
        new_status: status_name(e.new_status),
        old_status: status_name(e.old_status),
        reason: e.reason,
        order_id: e.order_id,
        order_number: e.order_number,
        position,
    })
}

fn created(e: OrderCreated, position: Position) -> ClientMethod {
    ClientMethod::NewOrderCreated(client_methods::NewOrderCreated {
        created_at: hub_time(e.created_at.as_ref()),
        // Minor units as they are: only the browser knows how to show them (its currency
        // data says how many digits the currency's minor unit has).
        total_minor: e.total_minor,
        currency: e.currency,
        order_id: e.order_id,
        order_number: e.order_number,
        customer_name: e.customer_name,
        position,
    })
}

/// What a stock watcher sees of every change: the new level and the product's version.
fn stock_level(e: StockLevelChanged) -> ClientMethod {
    ClientMethod::StockLevelChanged(client_methods::StockLevelChanged {
        version: e.metadata.map_or(0, |m| m.aggregate_version),
        product_id: e.product_id,
        sku: e.sku,
        stock_level: e.new_level,
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
    use crate::protocol::StreamName;

    fn pos() -> Position {
        Position {
            stream: StreamName::Inventory,
            sequence: 5,
        }
    }

    #[test]
    fn a_raw_header_block_reads_like_the_general_clients_map() {
        let block = b"NATS/1.0\r\nNats-Stream: ORDERS\r\nNats-Sequence: 7\r\nNats-Sequence: 8\r\n\
            Orderflow-Schema:  orderflow.orders.v1.OrderCreated \r\nNats-Subject: \xff\r\n\
            Nats-Subject: orders.v1.c.created\r\ntraceparent: 00-ab\r\n\r\n";
        let raw = StoredHeaders::from_block(crate::live_link::wire::Headers::new(block));
        assert_eq!(raw.stream, Some("ORDERS"));
        // The first of a repeated header wins, even when it is not text.
        assert_eq!(raw.sequence, Some("7"));
        assert_eq!(raw.subject, None);
        assert_eq!(raw.schema, Some("orderflow.orders.v1.OrderCreated"));
        assert_eq!((raw.traceparent, raw.tracestate), (Some("00-ab"), None));
        assert_eq!(
            raw.position().map(|p| p.to_string()).as_deref(),
            Some("ORDERS:7")
        );
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
    fn created_goes_to_the_dashboard_with_minor_units_and_currency() {
        let e = AnyEvent::OrderCreated(OrderCreated {
            total_minor: 1999,
            currency: "JPY".into(),
            ..Default::default()
        });
        let (m, audience) = to_client_method(e, pos()).unwrap();
        assert_eq!(audience, Audience::Dashboard);
        let frame = m.encode(Protocol::Json);
        assert!(
            frame
                .as_text()
                .unwrap()
                .contains("\"totalMinor\":1999,\"currency\":\"JPY\"")
        );
    }

    #[test]
    fn status_changes_carry_the_reason() {
        let e = AnyEvent::OrderStatusChanged(OrderStatusChanged {
            new_status: OrderStatus::Cancelled as i32,
            old_status: OrderStatus::Confirmed as i32,
            reason: "Out of stock: KB-001".into(),
            ..Default::default()
        });
        let (m, audience) = to_client_method(e, pos()).unwrap();
        assert_eq!(audience, Audience::CustomerAndDashboard);
        let ClientMethod::OrderStatusChanged(m) = m else {
            panic!("{m:?}");
        };
        assert_eq!(m.reason, "Out of stock: KB-001");
        assert_eq!(m.new_status, "Cancelled");
    }

    #[test]
    fn every_stock_change_becomes_a_level_for_watchers() {
        let restock = StockLevelChanged {
            metadata: Some(orderflow_events::common::v1::EventMetadata {
                aggregate_version: 9,
                ..Default::default()
            }),
            sku: "SKU-1".into(),
            product_id: "p1".into(),
            old_level: 3,
            new_level: 8,
            threshold: 5,
            ..Default::default()
        };
        let payload = prost::Message::encode_to_vec(&restock);
        // A restock raises no alert, but watchers still see the new level.
        assert!(to_client_method(AnyEvent::StockLevelChanged(restock), pos()).is_none());
        let d = translate_stock_level(&payload, pos(), Protocol::Json).unwrap();
        assert_eq!(d.audience, Audience::StockWatchers);
        assert_eq!(
            d.frame.as_text().unwrap(),
            "{\"type\":1,\"target\":\"StockLevelChanged\",\"arguments\":[{\"productId\":\"p1\",\"sku\":\"SKU-1\",\"stockLevel\":8,\"version\":9}]}\u{1e}"
        );
        assert!(translate_stock_level(b"\xff\xff", pos(), Protocol::Json).is_none());
    }
}
