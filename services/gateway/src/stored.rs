//! One stream message as the gateway keeps it, whether it came live (republished) or was read
//! back from the stream: its position, whose order it is (from the subject, so routing never
//! decodes anything), the raw payload, and the hub message it becomes, translated at most once
//! per hub protocol (only when a connection of that protocol wants it) and then shared by live
//! fan-out and every replay. A stock level change also becomes, separately and only when
//! someone watches stock, the live `StockLevelChanged` message for stock watchers.

use std::sync::{Arc, OnceLock};

use bytes::Bytes;
use orderflow_events::inventory::v1::StockLevelChanged;
use orderflow_events::{Event, SCHEMA_NAMES, subjects};
use uuid::Uuid;

use crate::protocol::{Position, Protocol, StreamName};
use crate::translate::{Audience, Delivery, StoredHeaders, translate, translate_stock_level};

/// What a connection wants from a stream: everything the dashboard shows, or one customer's
/// own order updates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Interest {
    /// Every order event and stock alert the dashboard shows.
    Dashboard,
    /// The order updates of this customer.
    Customer(Uuid),
}

/// A stored event.
#[derive(Debug)]
pub struct StoredEvent {
    /// Stream and sequence.
    pub position: Position,
    /// The customer an order event belongs to (`orders.v1.<customer>.…`); `None` otherwise.
    pub customer: Option<Uuid>,
    schema: Option<&'static str>,
    payload: Bytes,
    /// The delivery in each protocol, indexed by `Protocol as usize`.
    deliveries: [OnceLock<Option<Arc<Delivery>>>; 2],
    /// For a stock level change: the message for stock watchers in each protocol.
    stock_levels: [OnceLock<Option<Arc<Delivery>>>; 2],
}

impl StoredEvent {
    /// An event stored under `subject` (the stream's own subject, not the live one).
    pub fn new(position: Position, subject: &str, schema: Option<&str>, payload: &[u8]) -> Self {
        let customer = match position.stream {
            StreamName::Orders => subject.split('.').nth(2).and_then(|t| t.parse().ok()),
            StreamName::Inventory => None,
        };
        StoredEvent {
            position,
            customer,
            // Interned: every known schema name is a static string, so an event costs no
            // allocation for it; an unknown one can never be translated anyway.
            schema: schema.and_then(|s| SCHEMA_NAMES.iter().copied().find(|n| *n == s)),
            // A copy, so that keeping the event does not keep the whole read buffer it was
            // sliced from alive.
            payload: Bytes::copy_from_slice(payload),
            deliveries: Default::default(),
            stock_levels: Default::default(),
        }
    }

    /// A message from the live (republished) subject space or from a direct get: both carry
    /// `Nats-Stream`, `Nats-Sequence` and the original headers. `None` without a position.
    pub fn from_message(message: &async_nats::Message) -> Option<Self> {
        let headers = StoredHeaders::read(message.headers.as_ref()?);
        StoredEvent::from_parts(&message.subject, &headers, &message.payload)
    }

    /// The same from a message's parts: the subject it came on, its headers and payload.
    pub fn from_parts(came_on: &str, headers: &StoredHeaders<'_>, payload: &[u8]) -> Option<Self> {
        let subject = headers
            .subject
            .unwrap_or_else(|| subjects::strip_live(came_on).unwrap_or(came_on));
        Some(StoredEvent::new(
            headers.position()?,
            subject,
            headers.schema,
            payload,
        ))
    }

    /// The hub message for this event in `protocol` (`None` for events browsers never see),
    /// translated on first use.
    pub fn delivery(&self, protocol: Protocol) -> Option<&Arc<Delivery>> {
        self.deliveries[protocol as usize]
            .get_or_init(|| translate(self.schema?, &self.payload, self.position, protocol))
            .as_ref()
    }

    /// The `StockLevelChanged` message for stock watchers in `protocol` (`None` unless this is a
    /// stock level change), translated on first use.
    pub fn stock_level(&self, protocol: Protocol) -> Option<&Arc<Delivery>> {
        if self.schema != Some(StockLevelChanged::SCHEMA_NAME) {
            return None;
        }
        self.stock_levels[protocol as usize]
            .get_or_init(|| translate_stock_level(&self.payload, self.position, protocol))
            .as_ref()
    }

    /// The hub message in `protocol` if `interest` wants this event. Checks the customer
    /// before translating, so other customers' events cost nothing.
    pub fn wanted_by(&self, interest: Interest, protocol: Protocol) -> Option<&Arc<Delivery>> {
        match interest {
            Interest::Dashboard => self.delivery(protocol),
            Interest::Customer(id) if self.customer == Some(id) => self
                .delivery(protocol)
                .filter(|d| d.audience == Audience::CustomerAndDashboard),
            Interest::Customer(_) => None,
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use orderflow_events::orders::v1::{OrderCreated, OrderStatusChanged};

    /// A status change of `customer` at ORDERS:`sequence`.
    pub fn status_changed(customer: Uuid, sequence: u64) -> StoredEvent {
        let event = OrderStatusChanged {
            order_id: Uuid::new_v4().to_string(),
            ..Default::default()
        };
        let subject = format!("orders.v1.{customer}.{}.status_changed", Uuid::new_v4());
        StoredEvent::new(
            Position {
                stream: StreamName::Orders,
                sequence,
            },
            &subject,
            Some(OrderStatusChanged::SCHEMA_NAME),
            &prost::Message::encode_to_vec(&event),
        )
    }

    #[test]
    fn routes_by_subject_and_translates_once() {
        let alice = Uuid::new_v4();
        let e = status_changed(alice, 7);
        assert_eq!(e.customer, Some(alice));
        let json = Protocol::Json;
        assert!(
            e.wanted_by(Interest::Customer(Uuid::new_v4()), json)
                .is_none()
        );
        let first = e.wanted_by(Interest::Customer(alice), json).unwrap();
        let again = e.wanted_by(Interest::Dashboard, json).unwrap();
        assert!(Arc::ptr_eq(first, again), "one translation, shared");
        let text = first.frame.as_text().unwrap();
        assert!(text.contains("\"position\":\"ORDERS:7\""));
        let binary = e
            .wanted_by(Interest::Dashboard, Protocol::MessagePack)
            .unwrap();
        assert!(
            Arc::ptr_eq(
                binary,
                e.wanted_by(Interest::Customer(alice), Protocol::MessagePack)
                    .unwrap()
            ),
            "one translation per protocol"
        );
        assert!(matches!(binary.frame, crate::protocol::Frame::Binary(_)));
    }

    #[test]
    fn creations_are_for_the_dashboard_only_and_unknown_schemas_for_nobody() {
        let bob = Uuid::new_v4();
        let position = Position {
            stream: StreamName::Orders,
            sequence: 1,
        };
        let subject = format!("orders.v1.{bob}.{}.created", Uuid::new_v4());
        let created = StoredEvent::new(
            position,
            &subject,
            Some(OrderCreated::SCHEMA_NAME),
            &prost::Message::encode_to_vec(&OrderCreated::default()),
        );
        for protocol in Protocol::ALL {
            assert!(
                created
                    .wanted_by(Interest::Customer(bob), protocol)
                    .is_none()
            );
            assert!(created.wanted_by(Interest::Dashboard, protocol).is_some());
        }
        let unknown = StoredEvent::new(position, &subject, Some("x.y.Z"), b"");
        assert!(unknown.delivery(Protocol::Json).is_none());
    }

    /// A stock change of `sku` from `old` to `new` (threshold 5) at INVENTORY:`sequence`.
    pub fn stock_changed(sku: &str, old: i64, new: i64, sequence: u64) -> StoredEvent {
        let event = StockLevelChanged {
            sku: sku.into(),
            old_level: old,
            new_level: new,
            threshold: 5,
            ..Default::default()
        };
        StoredEvent::new(
            Position {
                stream: StreamName::Inventory,
                sequence,
            },
            &format!("inventory.v1.products.{sku}.stock_level_changed"),
            Some(StockLevelChanged::SCHEMA_NAME),
            &prost::Message::encode_to_vec(&event),
        )
    }

    #[test]
    fn stock_changes_have_a_watcher_message_and_order_events_none() {
        let restock = stock_changed("KB-1", 2, 9, 4);
        assert!(
            restock
                .wanted_by(Interest::Dashboard, Protocol::Json)
                .is_none(),
            "no alert"
        );
        let level = restock.stock_level(Protocol::Json).unwrap();
        assert_eq!(level.audience, Audience::StockWatchers);
        assert!(level.frame.as_text().unwrap().contains("\"stockLevel\":9"));
        let crossing = stock_changed("KB-1", 9, 2, 5);
        assert!(
            crossing
                .wanted_by(Interest::Dashboard, Protocol::Json)
                .is_some()
        );
        assert!(crossing.stock_level(Protocol::MessagePack).is_some());
        assert!(
            status_changed(Uuid::new_v4(), 1)
                .stock_level(Protocol::Json)
                .is_none()
        );
    }
}
