//! The [`Event`] trait every event message implements, the [`AnyEvent`] enum of all
//! of them, and [`decode_by_schema`] for consumers that receive mixed events.

use time::OffsetDateTime;
use uuid::Uuid;

use crate::common::v1::EventMetadata;
use crate::subjects::{self, OrderEventKind, ProductEventKind};
use crate::{Error, inventory, orders, timestamp};

/// An OrderFlow event: a protobuf message with metadata, a subject and a schema name,
/// so the outbox can store and publish any event generically.
pub trait Event: prost::Message + prost::Name + Default + Clone + 'static {
    /// Full protobuf name, e.g. `orderflow.orders.v1.OrderCreated`; the value of the
    /// `Orderflow-Schema` header. Equal to [`prost::Name::full_name`].
    const SCHEMA_NAME: &'static str;

    /// The event's metadata, `None` only for a malformed message.
    fn metadata(&self) -> Option<&EventMetadata>;

    /// The NATS subject to publish the event on (see [`crate::subjects`]); fails if an
    /// id field is not a UUID or the sku cannot be a subject token.
    fn subject(&self) -> Result<String, Error>;

    /// [`Self::SCHEMA_NAME`], callable on a value.
    fn schema_name(&self) -> &'static str {
        Self::SCHEMA_NAME
    }
}

impl EventMetadata {
    /// Metadata for a new event: a fresh UUID v7 event id, the aggregate's id and its
    /// version after the change, and the commit time.
    pub fn new(aggregate_id: Uuid, aggregate_version: u64, committed_at: OffsetDateTime) -> Self {
        Self {
            event_id: Uuid::now_v7().hyphenated().to_string(),
            aggregate_id: aggregate_id.hyphenated().to_string(),
            aggregate_version,
            committed_at: Some(timestamp::to_timestamp(committed_at)),
        }
    }

    /// `event_id` parsed as a UUID.
    pub fn event_uuid(&self) -> Result<Uuid, Error> {
        parse_uuid(EventMetadata::SCHEMA, "event_id", &self.event_id)
    }

    /// `aggregate_id` parsed as a UUID.
    pub fn aggregate_uuid(&self) -> Result<Uuid, Error> {
        parse_uuid(EventMetadata::SCHEMA, "aggregate_id", &self.aggregate_id)
    }

    /// `committed_at` as an `OffsetDateTime` (UTC); `None` if unset.
    pub fn committed_at_utc(&self) -> Result<Option<OffsetDateTime>, Error> {
        self.committed_at
            .as_ref()
            .map(timestamp::to_offset_date_time)
            .transpose()
    }

    const SCHEMA: &'static str = "orderflow.common.v1.EventMetadata";
}

fn parse_uuid(schema: &'static str, field: &'static str, value: &str) -> Result<Uuid, Error> {
    Uuid::parse_str(value).map_err(|_| Error::InvalidUuid {
        schema,
        field,
        value: value.to_owned(),
    })
}

/// Implements [`Event`] for one message type; `$subject` builds the subject from
/// `$event` (the message).
macro_rules! impl_event {
    ($ty:ty, $name:literal, |$event:ident| $subject:block) => {
        impl Event for $ty {
            const SCHEMA_NAME: &'static str = $name;

            fn metadata(&self) -> Option<&EventMetadata> {
                self.metadata.as_ref()
            }

            fn subject(&self) -> Result<String, Error> {
                let $event = self;
                $subject
            }
        }
    };
}

/// Subject of an order event: both ids come from the message. Expands inside an
/// `Event` impl, where `Self` is the message type.
macro_rules! order_subject {
    ($event:ident, $kind:expr) => {
        Ok(subjects::order_event(
            parse_uuid(Self::SCHEMA_NAME, "customer_id", &$event.customer_id)?,
            parse_uuid(Self::SCHEMA_NAME, "order_id", &$event.order_id)?,
            $kind,
        ))
    };
}

/// Declares [`AnyEvent`], [`SCHEMA_NAMES`] and the dispatching methods from one list,
/// so adding an event is one line here plus its `impl_event!`.
macro_rules! any_event {
    ($($variant:ident => $ty:ty),+ $(,)?) => {
        /// Any OrderFlow event, as decoded by [`decode_by_schema`].
        #[derive(Debug, Clone, PartialEq)]
        pub enum AnyEvent {
            $(
                #[doc = concat!("A [`", stringify!($ty), "`].")]
                $variant($ty),
            )+
        }

        /// The schema names [`decode_by_schema`] knows, one per [`AnyEvent`] variant.
        pub const SCHEMA_NAMES: &[&str] = &[$(<$ty as Event>::SCHEMA_NAME),+];

        /// Decodes an event given the value of its `Orderflow-Schema` header.
        pub fn decode_by_schema(schema: &str, bytes: &[u8]) -> Result<AnyEvent, Error> {
            $(
                if schema == <$ty as Event>::SCHEMA_NAME {
                    return <$ty as prost::Message>::decode(bytes)
                        .map(AnyEvent::$variant)
                        .map_err(|source| Error::Decode {
                            schema: <$ty as Event>::SCHEMA_NAME,
                            source,
                        });
                }
            )+
            Err(Error::UnknownSchema(schema.to_owned()))
        }

        impl AnyEvent {
            /// Full protobuf name of the event's message.
            pub fn schema_name(&self) -> &'static str {
                match self {
                    $(Self::$variant(_) => <$ty as Event>::SCHEMA_NAME,)+
                }
            }

            /// The event's metadata.
            pub fn metadata(&self) -> Option<&EventMetadata> {
                match self {
                    $(Self::$variant(event) => event.metadata(),)+
                }
            }

            /// The subject the event is published on.
            pub fn subject(&self) -> Result<String, Error> {
                match self {
                    $(Self::$variant(event) => event.subject(),)+
                }
            }

            /// The protobuf encoding of the event.
            pub fn encode_to_vec(&self) -> Vec<u8> {
                match self {
                    $(Self::$variant(event) => prost::Message::encode_to_vec(event),)+
                }
            }
        }

        $(
            impl From<$ty> for AnyEvent {
                fn from(event: $ty) -> Self {
                    Self::$variant(event)
                }
            }
        )+
    };
}

any_event! {
    OrderCreated => orders::v1::OrderCreated,
    OrderConfirmed => orders::v1::OrderConfirmed,
    OrderStatusChanged => orders::v1::OrderStatusChanged,
    OrderCancelled => orders::v1::OrderCancelled,
    ProductUpserted => inventory::v1::ProductUpserted,
    StockLevelChanged => inventory::v1::StockLevelChanged,
    ReservationRejected => inventory::v1::ReservationRejected,
}

impl_event!(
    orders::v1::OrderCreated,
    "orderflow.orders.v1.OrderCreated",
    |e| { order_subject!(e, OrderEventKind::Created) }
);
impl_event!(
    orders::v1::OrderConfirmed,
    "orderflow.orders.v1.OrderConfirmed",
    |e| { order_subject!(e, OrderEventKind::Confirmed) }
);
impl_event!(
    orders::v1::OrderStatusChanged,
    "orderflow.orders.v1.OrderStatusChanged",
    |e| { order_subject!(e, OrderEventKind::StatusChanged) }
);
impl_event!(
    orders::v1::OrderCancelled,
    "orderflow.orders.v1.OrderCancelled",
    |e| { order_subject!(e, OrderEventKind::Cancelled) }
);
impl_event!(
    inventory::v1::ProductUpserted,
    "orderflow.inventory.v1.ProductUpserted",
    |e| { subjects::product_event(&e.sku, ProductEventKind::Upserted) }
);
impl_event!(
    inventory::v1::StockLevelChanged,
    "orderflow.inventory.v1.StockLevelChanged",
    |e| { subjects::product_event(&e.sku, ProductEventKind::StockLevelChanged) }
);
impl_event!(
    inventory::v1::ReservationRejected,
    "orderflow.inventory.v1.ReservationRejected",
    |e| {
        Ok(subjects::reservation_rejected(
            parse_uuid(Self::SCHEMA_NAME, "customer_id", &e.customer_id)?,
            parse_uuid(Self::SCHEMA_NAME, "order_id", &e.order_id)?,
        ))
    }
);

#[cfg(test)]
#[path = "event_tests.rs"]
mod tests;
