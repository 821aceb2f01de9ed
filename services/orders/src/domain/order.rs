//! The Order aggregate and its state machine.
//!
//! ```text
//! Draft ──confirm──▶ Confirmed ──process──▶ Processing ──ship──▶ Shipped ──deliver──▶ Delivered
//!   │                    │                      │
//!   └──────cancel────────┴────────cancel────────┴──▶ Cancelled
//! ```
//!
//! Every accepted command raises a `StatusChanged` event; confirm and cancel raise their own
//! event first. The aggregate version counts events, so each event has its own version and the
//! outbox rows of one order are numbered without gaps.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::{CustomerId, Money, OrderId, ProductId, Quantity, Sku};

/// Where an order is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum OrderStatus {
    /// Being put together by the customer; lines are fixed at creation.
    Draft,
    /// Placed by the customer; stock is reserved.
    Confirmed,
    /// Being picked in the warehouse.
    Processing,
    /// Handed to the carrier.
    Shipped,
    /// At the customer.
    Delivered,
    /// Cancelled by the customer, an admin or a failed stock reservation.
    Cancelled,
}

impl OrderStatus {
    /// Every status, for parsing and tests.
    pub const ALL: [Self; 6] = [
        Self::Draft,
        Self::Confirmed,
        Self::Processing,
        Self::Shipped,
        Self::Delivered,
        Self::Cancelled,
    ];

    /// The name used in JSON, the database and events.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Draft => "Draft",
            Self::Confirmed => "Confirmed",
            Self::Processing => "Processing",
            Self::Shipped => "Shipped",
            Self::Delivered => "Delivered",
            Self::Cancelled => "Cancelled",
        }
    }

    /// Parses a status name, ignoring ASCII case.
    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|s| s.as_str().eq_ignore_ascii_case(raw))
    }
}

/// A state-changing request on an existing order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// Draft → Confirmed; needs at least one line.
    Confirm,
    /// Confirmed → Processing.
    StartProcessing,
    /// Processing → Shipped.
    Ship,
    /// Shipped → Delivered.
    Deliver,
    /// Draft, Confirmed or Processing → Cancelled.
    Cancel {
        /// Shown to the customer.
        reason: String,
    },
}

impl Command {
    /// The command's name in errors and the API.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Confirm => "confirm",
            Self::StartProcessing => "process",
            Self::Ship => "ship",
            Self::Deliver => "deliver",
            Self::Cancel { .. } => "cancel",
        }
    }
}

/// One priced line; the price comes from the catalog at creation time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderLine {
    /// The product's sku.
    pub sku: Sku,
    /// The product's identity in the catalog.
    pub product_id: ProductId,
    /// The product's name when ordered.
    pub product_name: String,
    /// How many.
    pub quantity: Quantity,
    /// Price of one unit when ordered.
    pub unit_price: Money,
}

impl OrderLine {
    /// Quantity times unit price.
    pub fn total(&self) -> Money {
        Money(self.unit_price.0 * i64::from(self.quantity.get()))
    }
}

/// What happened to an order; turned into contract events by `crate::events`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DomainEvent {
    /// The order was created as a draft.
    Created,
    /// The customer confirmed the order.
    Confirmed,
    /// The status moved from `old` to `new`.
    StatusChanged {
        /// Status before.
        old: OrderStatus,
        /// Status after.
        new: OrderStatus,
    },
    /// The order was cancelled.
    Cancelled {
        /// Why, shown to the customer.
        reason: String,
    },
}

/// Why a command was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TransitionError {
    /// The command does not apply to the current status.
    #[error("cannot {command} an order that is {current}", current = current.as_str())]
    InvalidTransition {
        /// The status the order is in.
        current: OrderStatus,
        /// The command's name.
        command: &'static str,
    },
    /// Confirming an order without lines.
    #[error("cannot confirm an order without lines")]
    EmptyOrder,
}

/// The Order aggregate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Order {
    /// Identity.
    pub id: OrderId,
    /// Human order number, e.g. `ORD-2026-000123`.
    pub number: String,
    /// Who placed it.
    pub customer_id: CustomerId,
    /// The customer's display name when the order was placed.
    pub customer_name: String,
    /// Current status.
    pub status: OrderStatus,
    /// Priced lines.
    pub lines: Vec<OrderLine>,
    /// ISO 4217 currency of every price.
    pub currency: String,
    /// Number of events applied; the ETag.
    pub version: u64,
    /// Set when cancelled.
    pub cancel_reason: Option<String>,
    /// When it was created.
    pub created_at: OffsetDateTime,
    /// When it last changed.
    pub updated_at: OffsetDateTime,
}

/// Everything needed to create an order.
#[derive(Debug, Clone)]
pub struct NewOrder {
    /// Identity.
    pub id: OrderId,
    /// Human order number.
    pub number: String,
    /// Who places it.
    pub customer_id: CustomerId,
    /// Their display name.
    pub customer_name: String,
    /// Priced lines.
    pub lines: Vec<OrderLine>,
    /// Currency of the prices.
    pub currency: String,
}

impl Order {
    /// Creates a draft order at version 1 and its `Created` event.
    pub fn create(new: NewOrder, now: OffsetDateTime) -> (Self, Vec<DomainEvent>) {
        let order = Self {
            id: new.id,
            number: new.number,
            customer_id: new.customer_id,
            customer_name: new.customer_name,
            status: OrderStatus::Draft,
            lines: new.lines,
            currency: new.currency,
            version: 1,
            cancel_reason: None,
            created_at: now,
            updated_at: now,
        };
        (order, vec![DomainEvent::Created])
    }

    /// Sum of the line totals.
    pub fn total(&self) -> Money {
        Money(self.lines.iter().map(|l| l.total().0).sum())
    }

    /// Applies `command`, returning the events it raised in order. On error nothing changes.
    pub fn handle(
        &mut self,
        command: &Command,
        now: OffsetDateTime,
    ) -> Result<Vec<DomainEvent>, TransitionError> {
        use OrderStatus::*;
        let invalid = || TransitionError::InvalidTransition {
            current: self.status,
            command: command.name(),
        };
        let (new_status, first) = match (command, self.status) {
            (Command::Confirm, Draft) if self.lines.is_empty() => {
                return Err(TransitionError::EmptyOrder);
            }
            (Command::Confirm, Draft) => (Confirmed, Some(DomainEvent::Confirmed)),
            (Command::StartProcessing, Confirmed) => (Processing, None),
            (Command::Ship, Processing) => (Shipped, None),
            (Command::Deliver, Shipped) => (Delivered, None),
            (Command::Cancel { reason }, Draft | Confirmed | Processing) => {
                self.cancel_reason = Some(reason.clone());
                (
                    Cancelled,
                    Some(DomainEvent::Cancelled {
                        reason: reason.clone(),
                    }),
                )
            }
            _ => return Err(invalid()),
        };
        let old = self.status;
        self.status = new_status;
        self.updated_at = now;
        let mut events: Vec<DomainEvent> = first.into_iter().collect();
        events.push(DomainEvent::StatusChanged {
            old,
            new: new_status,
        });
        self.version += events.len() as u64;
        Ok(events)
    }
}
