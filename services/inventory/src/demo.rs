//! The demo catalog (`demo/catalog.json`, compiled in): a dozen products, several within a
//! unit or two of their low-stock threshold so that a few demo orders raise low-stock alerts.
//! [`seed`] loads it through the normal use case, so every product also produces its events.

use serde::Deserialize;

use crate::domain::{DEFAULT_THRESHOLD, Money, NewProduct, Sku};
use crate::error::InventoryError;
use crate::service::CatalogService;

/// The demo catalog as shipped.
pub const CATALOG_JSON: &str = include_str!("../demo/catalog.json");

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct DemoProduct {
    sku: String,
    name: String,
    unit_price: String,
    initial_stock: i64,
    low_stock_threshold: Option<i64>,
}

/// The products of the demo catalog.
pub fn products() -> Result<Vec<NewProduct>, InventoryError> {
    let raw: Vec<DemoProduct> = serde_json::from_str(CATALOG_JSON)
        .map_err(|e| InventoryError::InvalidDemoCatalog(e.to_string()))?;
    raw.into_iter()
        .map(|p| {
            Ok(NewProduct {
                sku: Sku::parse(&p.sku)
                    .map_err(|e| InventoryError::InvalidDemoCatalog(e.to_string()))?,
                name: p.name,
                unit_price: Money::parse(&p.unit_price)
                    .map_err(|e| InventoryError::InvalidDemoCatalog(e.to_string()))?,
                stock_level: p.initial_stock,
                low_stock_threshold: p.low_stock_threshold.unwrap_or(DEFAULT_THRESHOLD),
            })
        })
        .collect()
}

/// What [`seed`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SeedReport {
    /// Products created now.
    pub created: usize,
    /// Products whose sku already existed (left untouched).
    pub existing: usize,
}

/// Creates every demo product whose sku does not exist yet. Safe to run any number of times.
pub async fn seed(catalog: &CatalogService) -> Result<SeedReport, InventoryError> {
    let mut report = SeedReport {
        created: 0,
        existing: 0,
    };
    for product in products()? {
        match catalog.create(product).await {
            Ok(_) => report.created += 1,
            Err(InventoryError::SkuTaken(_)) => report.existing += 1,
            Err(e) => return Err(e),
        }
    }
    Ok(report)
}
