//! Maps use-case errors to RFC 9457 problems with codes from the one table
//! (`orderflow_runtime::problem::codes`). Internal causes are logged once and never returned to
//! the client; an unreachable database is a 503 with `Retry-After`, logged as one summarised
//! outage (`orderflow_service::outage`).

use orderflow_runtime::Problem;
use orderflow_runtime::problem::codes;
use orderflow_service::errors::internal;

use crate::error::InventoryError;

impl From<InventoryError> for Problem {
    fn from(error: InventoryError) -> Self {
        match error {
            InventoryError::NotFound(sku) => Problem::new(codes::PRODUCT_NOT_FOUND)
                .detail(format!("No product with sku {sku}."))
                .with("sku", sku.as_str()),
            InventoryError::SkuTaken(sku) => Problem::new(codes::SKU_TAKEN)
                .detail(format!("A product with sku {sku} already exists."))
                .with("sku", sku.as_str()),
            InventoryError::InsufficientStock {
                sku,
                available,
                delta,
            } => Problem::new(codes::INSUFFICIENT_STOCK)
                .detail(format!(
                    "Only {available} units of {sku} are available; cannot remove {}.",
                    delta.unsigned_abs()
                ))
                .with("sku", sku.as_str())
                .with("available", available),
            InventoryError::StockOverflow(sku) => Problem::new(codes::STOCK_LIMIT_EXCEEDED)
                .detail(format!(
                    "The stock level of {sku} would exceed {}.",
                    crate::domain::MAX_UNITS
                ))
                .with("sku", sku.as_str()),
            InventoryError::MalformedEvent(e) | InventoryError::InvalidDemoCatalog(e) => {
                internal("unexpected", &e)
            }
            InventoryError::Infrastructure(e) => e.into(),
        }
    }
}
