//! JSON request and response bodies (camelCase). Money is a decimal string such as `"12.34"`,
//! exact for any client, next to its ISO 4217 currency; stock counts are integers.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::domain::Product;

/// Body of `POST /api/products`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CreateProductRequest {
    /// 1–64 characters of A–Z, 0–9 and `-` (lower case is upper-cased).
    pub sku: String,
    /// Display name, 1–200 characters.
    pub name: String,
    /// Price of one unit in USD, decimal string with at most two decimals, e.g. `"49.99"`.
    pub unit_price: String,
    /// Level below which the product is low on stock; default 10.
    pub low_stock_threshold: Option<i64>,
    /// Units available at creation; default 0.
    pub initial_stock: Option<i64>,
}

/// Body of `PATCH /api/products/{sku}`: only the fields present change.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct UpdateProductRequest {
    /// New display name.
    pub name: Option<String>,
    /// New price, decimal string.
    pub unit_price: Option<String>,
    /// New low-stock threshold.
    pub low_stock_threshold: Option<i64>,
}

/// Body of `POST /api/products/{sku}/stock-adjustments`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct StockAdjustmentRequest {
    /// Units to add (positive) or remove (negative); not zero.
    pub delta: i64,
    /// Why, e.g. "cycle count" or "goods received"; 1–200 characters, recorded on the event.
    pub reason: String,
}

/// A product and its stock.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ProductDto {
    /// Identity.
    pub id: Uuid,
    /// Stock-keeping unit.
    pub sku: String,
    /// Display name.
    pub name: String,
    /// Price of one unit, decimal string.
    pub unit_price: String,
    /// ISO 4217 currency.
    pub currency: String,
    /// Units available for sale.
    pub stock_level: i64,
    /// Units held for confirmed orders.
    pub reserved: i64,
    /// Below this level the product is low on stock.
    pub low_stock_threshold: i64,
    /// Whether `stockLevel < lowStockThreshold`.
    pub low_stock: bool,
    /// Version of the product; grows with every event it raises.
    pub version: i64,
    /// Creation time (RFC 3339).
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// Time of the last change (RFC 3339).
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

impl From<&Product> for ProductDto {
    fn from(p: &Product) -> Self {
        Self {
            id: p.id.0,
            sku: p.sku.to_string(),
            name: p.name.clone(),
            unit_price: p.unit_price.to_decimal_string(),
            currency: p.currency.clone(),
            stock_level: p.stock_level,
            reserved: p.reserved,
            low_stock_threshold: p.low_stock_threshold,
            low_stock: p.stock_level < p.low_stock_threshold,
            version: p.version,
            created_at: p.created_at,
            updated_at: p.updated_at,
        }
    }
}

/// A page of products in sku order.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ProductListDto {
    /// The products.
    pub items: Vec<ProductDto>,
    /// Pass as `cursor` to get the next page; absent on the last page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

/// The result of a stock adjustment.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct StockAdjustmentDto {
    /// The product's sku.
    pub sku: String,
    /// Units available before.
    pub old_level: i64,
    /// Units available now.
    pub new_level: i64,
    /// The recorded reason.
    pub reason: String,
    /// The product's version after the change.
    pub version: i64,
}
