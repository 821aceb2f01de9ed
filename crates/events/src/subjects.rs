//! NATS subjects of OrderFlow events, and the wildcard filters that select them.
//!
//! Routing keys are subject tokens, so one wildcard selects what a consumer needs:
//!
//! | events | subject |
//! |---|---|
//! | order events | `orders.v1.<customer_id>.<order_id>.<created\|confirmed\|status_changed\|cancelled>` |
//! | product events | `inventory.v1.products.<sku>.<upserted\|stock_level_changed>` |
//! | reservation rejections | `inventory.v1.reservations.<customer_id>.<order_id>.rejected` |
//!
//! Streams republish every stored message under [`LIVE_PREFIX`] (see
//! [`crate::streams`]); the gateway subscribes there with [`live`] filters.

use std::fmt;
use std::str::FromStr;

use uuid::Uuid;

use crate::Error;

/// Every order event: `orders.v1.>`.
pub const ALL_ORDER_EVENTS: &str = "orders.v1.>";
/// Every inventory event (products, stock, reservations): `inventory.v1.>`.
pub const ALL_INVENTORY_EVENTS: &str = "inventory.v1.>";
/// Every product event, catalogue and stock: `inventory.v1.products.>`.
pub const ALL_PRODUCT_EVENTS: &str = "inventory.v1.products.>";
/// Every stock level change: `inventory.v1.products.*.stock_level_changed`.
pub const ALL_STOCK_EVENTS: &str = "inventory.v1.products.*.stock_level_changed";
/// Every reservation rejection: `inventory.v1.reservations.>`.
pub const ALL_RESERVATION_REJECTIONS: &str = "inventory.v1.reservations.>";
/// Prefix of the republished (live) subject space: `live.orders.v1.…` and
/// `live.inventory.v1.…` carry the same messages plus stream positions.
pub const LIVE_PREFIX: &str = "live.";

/// The kinds of order event, one subject token each.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OrderEventKind {
    /// [`crate::orders::v1::OrderCreated`], token `created`.
    Created,
    /// [`crate::orders::v1::OrderConfirmed`], token `confirmed`.
    Confirmed,
    /// [`crate::orders::v1::OrderStatusChanged`], token `status_changed`.
    StatusChanged,
    /// [`crate::orders::v1::OrderCancelled`], token `cancelled`.
    Cancelled,
}

impl OrderEventKind {
    /// All kinds, in lifecycle order.
    pub const ALL: [Self; 4] = [
        Self::Created,
        Self::Confirmed,
        Self::StatusChanged,
        Self::Cancelled,
    ];

    /// The subject token of this kind.
    pub const fn token(self) -> &'static str {
        match self {
            Self::Created => "created",
            Self::Confirmed => "confirmed",
            Self::StatusChanged => "status_changed",
            Self::Cancelled => "cancelled",
        }
    }
}

/// The kinds of product event, one subject token each.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ProductEventKind {
    /// [`crate::inventory::v1::ProductUpserted`], token `upserted`.
    Upserted,
    /// [`crate::inventory::v1::StockLevelChanged`], token `stock_level_changed`.
    StockLevelChanged,
}

impl ProductEventKind {
    /// All kinds.
    pub const ALL: [Self; 2] = [Self::Upserted, Self::StockLevelChanged];

    /// The subject token of this kind.
    pub const fn token(self) -> &'static str {
        match self {
            Self::Upserted => "upserted",
            Self::StockLevelChanged => "stock_level_changed",
        }
    }
}

/// `orders.v1.<customer_id>.<order_id>.<kind>`
pub fn order_event(customer_id: Uuid, order_id: Uuid, kind: OrderEventKind) -> String {
    format!(
        "orders.v1.{}.{}.{}",
        customer_id.hyphenated(),
        order_id.hyphenated(),
        kind.token()
    )
}

/// `inventory.v1.products.<sku>.<kind>`; fails if the sku cannot be a subject token
/// (see [`check_token`]).
pub fn product_event(sku: &str, kind: ProductEventKind) -> Result<String, Error> {
    check_token(sku)?;
    Ok(format!("inventory.v1.products.{sku}.{}", kind.token()))
}

/// `inventory.v1.reservations.<customer_id>.<order_id>.rejected`
///
/// The customer id is a token so that one customer's wildcard
/// ([`customer_reservation_rejections`]) selects their rejections.
pub fn reservation_rejected(customer_id: Uuid, order_id: Uuid) -> String {
    format!(
        "inventory.v1.reservations.{}.{}.rejected",
        customer_id.hyphenated(),
        order_id.hyphenated()
    )
}

/// Every order event of one customer: `orders.v1.<customer_id>.>`.
pub fn customer_orders(customer_id: Uuid) -> String {
    format!("orders.v1.{}.>", customer_id.hyphenated())
}

/// Every event of one order: `orders.v1.<customer_id>.<order_id>.*`.
pub fn order_events(customer_id: Uuid, order_id: Uuid) -> String {
    format!(
        "orders.v1.{}.{}.*",
        customer_id.hyphenated(),
        order_id.hyphenated()
    )
}

/// Every reservation rejection of one customer:
/// `inventory.v1.reservations.<customer_id>.>`.
pub fn customer_reservation_rejections(customer_id: Uuid) -> String {
    format!("inventory.v1.reservations.{}.>", customer_id.hyphenated())
}

/// Every event of one product: `inventory.v1.products.<sku>.*`.
pub fn product_events(sku: &str) -> Result<String, Error> {
    check_token(sku)?;
    Ok(format!("inventory.v1.products.{sku}.*"))
}

/// The live (republished) counterpart of a subject or filter: `live.<subject>`.
pub fn live(subject: &str) -> String {
    format!("{LIVE_PREFIX}{subject}")
}

/// The original subject of a live subject, or `None` if it is not one.
pub fn strip_live(subject: &str) -> Option<&str> {
    subject.strip_prefix(LIVE_PREFIX)
}

/// Checks that a value can be one subject token: not empty, at most 256 bytes, and
/// free of `.`, `*`, `>` and whitespace, which NATS treats as separators or wildcards.
pub fn check_token(value: &str) -> Result<(), Error> {
    let reason = if value.is_empty() {
        "empty"
    } else if value.len() > 256 {
        "longer than 256 bytes"
    } else if value.contains(['.', '*', '>']) {
        "contains `.`, `*` or `>`"
    } else if value.chars().any(|c| c.is_whitespace() || c.is_control()) {
        "contains whitespace or control characters"
    } else {
        return Ok(());
    };
    Err(Error::InvalidSubjectToken {
        value: value.to_owned(),
        reason,
    })
}

/// What an event subject says, parsed back from its tokens (a `live.` prefix is
/// accepted and ignored). Lets the gateway route a message without decoding it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EventSubject {
    /// `orders.v1.<customer_id>.<order_id>.<kind>`
    Order {
        /// Owner of the order.
        customer_id: Uuid,
        /// The order.
        order_id: Uuid,
        /// Which event.
        kind: OrderEventKind,
    },
    /// `inventory.v1.products.<sku>.<kind>`
    Product {
        /// The product's sku.
        sku: String,
        /// Which event.
        kind: ProductEventKind,
    },
    /// `inventory.v1.reservations.<customer_id>.<order_id>.rejected`
    ReservationRejected {
        /// Owner of the order.
        customer_id: Uuid,
        /// The order.
        order_id: Uuid,
    },
}

impl FromStr for EventSubject {
    type Err = Error;

    fn from_str(subject: &str) -> Result<Self, Error> {
        let unknown = || Error::UnknownSubject(subject.to_owned());
        let uuid = |token: &str| Uuid::parse_str(token).map_err(|_| unknown());
        let tokens: Vec<&str> = strip_live(subject).unwrap_or(subject).split('.').collect();
        match tokens.as_slice() {
            ["orders", "v1", customer, order, kind] => Ok(Self::Order {
                customer_id: uuid(customer)?,
                order_id: uuid(order)?,
                kind: OrderEventKind::ALL
                    .into_iter()
                    .find(|k| k.token() == *kind)
                    .ok_or_else(unknown)?,
            }),
            ["inventory", "v1", "products", sku, kind] => Ok(Self::Product {
                sku: (*sku).to_owned(),
                kind: ProductEventKind::ALL
                    .into_iter()
                    .find(|k| k.token() == *kind)
                    .ok_or_else(unknown)?,
            }),
            [
                "inventory",
                "v1",
                "reservations",
                customer,
                order,
                "rejected",
            ] => Ok(Self::ReservationRejected {
                customer_id: uuid(customer)?,
                order_id: uuid(order)?,
            }),
            _ => Err(unknown()),
        }
    }
}

impl fmt::Display for EventSubject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Order {
                customer_id,
                order_id,
                kind,
            } => f.write_str(&order_event(*customer_id, *order_id, *kind)),
            Self::Product { sku, kind } => {
                write!(f, "inventory.v1.products.{sku}.{}", kind.token())
            }
            Self::ReservationRejected {
                customer_id,
                order_id,
            } => f.write_str(&reservation_rejected(*customer_id, *order_id)),
        }
    }
}

#[cfg(test)]
#[path = "subjects_tests.rs"]
mod tests;
