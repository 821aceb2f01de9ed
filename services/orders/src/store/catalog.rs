//! The local catalog: a copy of inventory's products kept current by `ProductUpserted` events
//! (event-carried state transfer), so placing an order never calls another service.

use sqlx::PgConnection;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::domain::{Money, ProductId, Sku};

/// A product as the orders service knows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CatalogEntry {
    /// Identity in the catalog.
    pub product_id: ProductId,
    /// Its sku.
    pub sku: Sku,
    /// Display name.
    pub name: String,
    /// Current price of one unit.
    pub unit_price: Money,
    /// ISO 4217 currency.
    pub currency: String,
}

/// Looks up the given skus; unknown ones are simply absent from the result.
pub async fn find_by_skus(
    conn: &mut PgConnection,
    skus: &[Sku],
) -> Result<Vec<CatalogEntry>, sqlx::Error> {
    let raw: Vec<&str> = skus.iter().map(Sku::as_str).collect();
    let rows: Vec<(Uuid, String, String, i64, String)> = sqlx::query_as(
        "SELECT product_id, sku, name, unit_price_minor, currency
         FROM catalog_products WHERE sku = ANY($1)",
    )
    .bind(&raw)
    .fetch_all(conn)
    .await?;
    Ok(rows
        .into_iter()
        .filter_map(|(id, sku, name, price, currency)| {
            Some(CatalogEntry {
                product_id: ProductId(id),
                sku: Sku::parse(&sku).ok()?,
                name,
                unit_price: Money(price),
                currency,
            })
        })
        .collect())
}

/// Applies a product upsert if it is newer than what we hold (events may arrive twice or, across
/// a redelivery, out of order). Returns whether anything changed.
pub async fn apply_product_upserted(
    conn: &mut PgConnection,
    entry: &CatalogEntry,
    version: i64,
    at: OffsetDateTime,
) -> Result<bool, sqlx::Error> {
    let result = sqlx::query(
        "INSERT INTO catalog_products (product_id, sku, name, unit_price_minor, currency, version, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7)
         ON CONFLICT (product_id) DO UPDATE
           SET sku = EXCLUDED.sku, name = EXCLUDED.name, unit_price_minor = EXCLUDED.unit_price_minor,
               currency = EXCLUDED.currency, version = EXCLUDED.version, updated_at = EXCLUDED.updated_at
           WHERE catalog_products.version < EXCLUDED.version",
    )
    .bind(entry.product_id.0)
    .bind(entry.sku.as_str())
    .bind(&entry.name)
    .bind(entry.unit_price.0)
    .bind(&entry.currency)
    .bind(version)
    .bind(at)
    .execute(conn)
    .await?;
    Ok(result.rows_affected() > 0)
}
