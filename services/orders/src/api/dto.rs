//! JSON request and response bodies (camelCase). Money is a decimal string such as `"12.34"`,
//! exact for any client, next to its ISO 4217 currency.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::domain::Order;

/// Body of `POST /api/orders`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CreateOrderRequest {
    /// What to order; prices come from the catalog.
    pub lines: Vec<LineRequestDto>,
}

/// One requested line.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct LineRequestDto {
    /// The product's sku.
    pub sku: String,
    /// How many, 1 to 10,000.
    pub quantity: i64,
}

/// Optional body of `POST /api/orders/{id}/cancel`.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CancelRequest {
    /// Why; shown to the customer.
    pub reason: Option<String>,
}

/// An order as the API shows it.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct OrderDto {
    /// Identity.
    pub id: Uuid,
    /// Human order number, e.g. `ORD-2026-000123`.
    pub order_number: String,
    /// The customer (the `sub` of their token).
    pub customer_id: Uuid,
    /// The customer's display name.
    pub customer_name: String,
    /// Draft, Confirmed, Processing, Shipped, Delivered or Cancelled.
    pub status: String,
    /// Priced lines.
    pub lines: Vec<OrderLineDto>,
    /// Sum of the lines, decimal string.
    pub total: String,
    /// ISO 4217 currency.
    pub currency: String,
    /// Why it was cancelled, when it was.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cancel_reason: Option<String>,
    /// Aggregate version; also the `ETag`.
    pub version: u64,
    /// Creation time (RFC 3339).
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// Time of the last change (RFC 3339).
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

/// A priced line.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct OrderLineDto {
    /// The product's sku.
    pub sku: String,
    /// The product's name when ordered.
    pub product_name: String,
    /// How many.
    pub quantity: u32,
    /// Price of one unit, decimal string.
    pub unit_price: String,
    /// Quantity times unit price, decimal string.
    pub line_total: String,
}

/// A page of orders, newest first.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct OrderListDto {
    /// The orders.
    pub items: Vec<OrderDto>,
    /// Pass as `cursor` to get the next page; absent on the last page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

impl From<&Order> for OrderDto {
    fn from(o: &Order) -> Self {
        Self {
            id: o.id.0,
            order_number: o.number.clone(),
            customer_id: o.customer_id.0,
            customer_name: o.customer_name.clone(),
            status: o.status.as_str().to_owned(),
            lines: o
                .lines
                .iter()
                .map(|l| OrderLineDto {
                    sku: l.sku.to_string(),
                    product_name: l.product_name.clone(),
                    quantity: l.quantity.get(),
                    unit_price: l.unit_price.to_decimal_string(),
                    line_total: l.total().to_decimal_string(),
                })
                .collect(),
            total: o.total().to_decimal_string(),
            currency: o.currency.clone(),
            cancel_reason: o.cancel_reason.clone(),
            version: o.version,
            created_at: o.created_at,
            updated_at: o.updated_at,
        }
    }
}
