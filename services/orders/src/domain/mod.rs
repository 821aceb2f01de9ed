//! The Order aggregate: statuses, transitions and the domain events they raise. Pure logic with
//! no I/O, so it is property-tested against a reference model.

mod order;
mod types;

pub use order::{Command, DomainEvent, NewOrder, Order, OrderLine, OrderStatus, TransitionError};
pub use types::{CustomerId, Money, OrderId, ProductId, Quantity, Sku, SkuError};
