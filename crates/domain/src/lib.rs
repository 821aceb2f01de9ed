//! The value types the orders and inventory services share: identities, skus and money. Each is
//! parsed once at the edge, so handlers, stores and event code never see raw strings or floats,
//! and both services accept exactly the same skus and prices.

mod ids;
mod money;
mod sku;

pub use ids::{CustomerId, OrderId, ProductId};
pub use money::{Money, MoneyError};
pub use sku::{Sku, SkuError};
