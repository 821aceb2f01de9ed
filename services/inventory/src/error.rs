//! The inventory service's one error enum. The API maps each variant to a problem document;
//! the event consumer maps it to a permanent or transient failure.

use orderflow_service::errors::Infrastructure;

use crate::domain::Sku;

/// Why a use case failed.
#[derive(Debug, thiserror::Error)]
pub enum InventoryError {
    /// No product with this sku.
    #[error("no product with sku {0}")]
    NotFound(Sku),
    /// Another product already has this sku.
    #[error("sku {0} is already taken")]
    SkuTaken(Sku),
    /// The change would take the stock level below zero.
    #[error("sku {sku}: {available} available, cannot change by {delta}")]
    InsufficientStock {
        /// The product.
        sku: Sku,
        /// Units available now.
        available: i64,
        /// The requested change.
        delta: i64,
    },
    /// The change would take the stock level above the supported maximum.
    #[error("sku {0}: the stock level would exceed the maximum")]
    StockOverflow(Sku),
    /// An incoming event cannot be applied and never will be.
    #[error("malformed event: {0}")]
    MalformedEvent(String),
    /// The shipped demo catalog is broken (a bug this crate's tests catch).
    #[error("demo catalog is invalid: {0}")]
    InvalidDemoCatalog(String),
    /// The database, the outbox or the event contract failed.
    #[error(transparent)]
    Infrastructure(Infrastructure),
}

orderflow_service::infrastructure_error!(InventoryError);

impl From<InventoryError> for orderflow_inbox::HandlerError {
    fn from(error: InventoryError) -> Self {
        match error {
            InventoryError::Infrastructure(e) => e.into(),
            other => Self::Permanent(other.to_string()),
        }
    }
}
