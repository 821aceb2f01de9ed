//! Maps use-case errors to RFC 9457 problems with stable codes. Internal causes are logged
//! once here and never returned to the client; an unreachable database is a 503 with
//! `Retry-After`, logged as one summarised outage (`orderflow_runtime::database`).

use axum::http::StatusCode;
use orderflow_runtime::{Problem, database};

use crate::error::InventoryError;

impl From<InventoryError> for Problem {
    fn from(error: InventoryError) -> Self {
        match error {
            InventoryError::NotFound(sku) => {
                Problem::not_found("product_not_found", format!("No product with sku {sku}."))
                    .with("sku", sku.as_str())
            }
            InventoryError::SkuTaken(sku) => Problem::new(StatusCode::CONFLICT, "sku_taken")
                .detail(format!("A product with sku {sku} already exists."))
                .with("sku", sku.as_str()),
            InventoryError::InsufficientStock {
                sku,
                available,
                delta,
            } => Problem::new(StatusCode::CONFLICT, "insufficient_stock")
                .detail(format!(
                    "Only {available} units of {sku} are available; cannot remove {}.",
                    delta.unsigned_abs()
                ))
                .with("sku", sku.as_str())
                .with("available", available),
            InventoryError::StockOverflow(sku) => {
                Problem::new(StatusCode::CONFLICT, "stock_limit_exceeded")
                    .detail(format!(
                        "The stock level of {sku} would exceed {}.",
                        crate::domain::MAX_UNITS
                    ))
                    .with("sku", sku.as_str())
            }
            InventoryError::MalformedEvent(e) | InventoryError::InvalidDemoCatalog(e) => {
                internal("unexpected", &e)
            }
            InventoryError::Database(e) => database::problem(&e, "database"),
            InventoryError::Outbox(orderflow_outbox::Error::Database(e)) => {
                database::problem(&e, "outbox")
            }
            InventoryError::Outbox(e) => internal("outbox", &e),
            InventoryError::Contract(e) => internal("event contract", &e),
        }
    }
}

fn internal(what: &str, error: &dyn std::fmt::Display) -> Problem {
    tracing::error!(%error, "{what} failure while handling a request");
    Problem::internal()
}

/// 404 for any path the API does not have, as a problem document too.
pub async fn not_found_route() -> Problem {
    Problem::not_found("route_not_found", "No such resource.")
}
