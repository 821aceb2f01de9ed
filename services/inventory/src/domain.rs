//! The product as the service holds it. Its value types (ids, skus, money) come from
//! `orderflow_domain`, the same ones the orders service parses, so handlers, the store and the
//! event code never see raw strings or floats.

use time::OffsetDateTime;

pub use orderflow_domain::{Money, MoneyError, ProductId, Sku, SkuError};

/// Currency of every price in this catalog (the orders service refuses mixed currencies).
pub const CURRENCY: &str = "USD";
/// Low-stock threshold of a product created without one.
pub const DEFAULT_THRESHOLD: i64 = 10;
/// Largest stock level, adjustment or threshold accepted; far above any real warehouse and far
/// below `i64` overflow.
pub const MAX_UNITS: i64 = 1_000_000_000;

/// A product with its stock, as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Product {
    /// Identity.
    pub id: ProductId,
    /// Unique sku.
    pub sku: Sku,
    /// Display name.
    pub name: String,
    /// Price of one unit.
    pub unit_price: Money,
    /// ISO 4217 currency of the price.
    pub currency: String,
    /// Units available for sale; never negative.
    pub stock_level: i64,
    /// Units held for confirmed orders; never negative.
    pub reserved: i64,
    /// Below this level the product is low on stock.
    pub low_stock_threshold: i64,
    /// Version of the product aggregate: the number of events it has raised.
    pub version: i64,
    /// Creation time.
    pub created_at: OffsetDateTime,
    /// Time of the last change.
    pub updated_at: OffsetDateTime,
}

/// What a new product starts with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewProduct {
    /// Unique sku.
    pub sku: Sku,
    /// Display name.
    pub name: String,
    /// Price of one unit.
    pub unit_price: Money,
    /// Initial units available.
    pub stock_level: i64,
    /// Low-stock threshold.
    pub low_stock_threshold: i64,
}

/// Changes to a product's catalog data; `None` leaves a field as it is.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProductPatch {
    /// New display name.
    pub name: Option<String>,
    /// New price.
    pub unit_price: Option<Money>,
    /// New low-stock threshold.
    pub low_stock_threshold: Option<i64>,
}
