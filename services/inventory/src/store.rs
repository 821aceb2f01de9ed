//! PostgreSQL persistence of products and their stock (per-order reservations are in
//! `reservations::store`). Every function runs on the caller's connection, so a use case
//! composes them into one transaction with its outbox rows.

use sqlx::postgres::PgRow;
use sqlx::{PgConnection, Row as _};
use time::OffsetDateTime;

use crate::domain::{Money, Product, ProductId, Sku};

/// The product columns, in the order [`product`] reads them.
pub(crate) const COLUMNS: &str = "id, sku, name, unit_price_minor, currency, stock_level, reserved, \
     low_stock_threshold, version, created_at, updated_at";

/// Runs the service's migrations and the outbox's and inbox's.
pub async fn migrate(pool: &sqlx::PgPool) -> anyhow::Result<()> {
    sqlx::migrate!("./migrations").run(pool).await?;
    orderflow_outbox::migrate(pool).await?;
    orderflow_inbox::migrate(pool).await?;
    Ok(())
}

/// A product row as the domain type.
pub(crate) fn product(row: &PgRow) -> Result<Product, sqlx::Error> {
    let sku: String = row.try_get("sku")?;
    Ok(Product {
        id: ProductId(row.try_get("id")?),
        sku: Sku::parse(&sku).map_err(|e| sqlx::Error::Decode(Box::new(e)))?,
        name: row.try_get("name")?,
        unit_price: Money(row.try_get("unit_price_minor")?),
        currency: row.try_get("currency")?,
        stock_level: row.try_get("stock_level")?,
        reserved: row.try_get("reserved")?,
        low_stock_threshold: row.try_get("low_stock_threshold")?,
        version: row.try_get("version")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
    })
}

/// Inserts a product; `false` when its sku is taken (nothing written).
pub async fn insert_product(conn: &mut PgConnection, p: &Product) -> Result<bool, sqlx::Error> {
    let inserted = sqlx::query(
        "INSERT INTO products (id, sku, name, unit_price_minor, currency, stock_level, reserved,
                               low_stock_threshold, version, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
         ON CONFLICT (sku) DO NOTHING",
    )
    .bind(p.id.0)
    .bind(p.sku.as_str())
    .bind(&p.name)
    .bind(p.unit_price.0)
    .bind(&p.currency)
    .bind(p.stock_level)
    .bind(p.reserved)
    .bind(p.low_stock_threshold)
    .bind(p.version)
    .bind(p.created_at)
    .bind(p.updated_at)
    .execute(conn)
    .await?;
    Ok(inserted.rows_affected() == 1)
}

/// The product with `sku`; with `lock`, its row stays locked until the transaction ends.
pub async fn find_by_sku(
    conn: &mut PgConnection,
    sku: &Sku,
    lock: bool,
) -> Result<Option<Product>, sqlx::Error> {
    let lock = if lock { " FOR UPDATE" } else { "" };
    let sql = format!("SELECT {COLUMNS} FROM products WHERE sku = $1{lock}");
    sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(sku.as_str())
        .fetch_optional(conn)
        .await?
        .as_ref()
        .map(product)
        .transpose()
}

/// Up to `limit` products after `after` in sku order, and whether more follow.
pub async fn list_products(
    conn: &mut PgConnection,
    after: Option<&Sku>,
    limit: u32,
) -> Result<(Vec<Product>, bool), sqlx::Error> {
    let sql = format!(
        "SELECT {COLUMNS} FROM products WHERE ($1::text IS NULL OR sku > $1) ORDER BY sku LIMIT $2"
    );
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(after.map(Sku::as_str))
        .bind(i64::from(limit) + 1)
        .fetch_all(conn)
        .await?;
    let mut products = rows.iter().map(product).collect::<Result<Vec<_>, _>>()?;
    let more = products.len() > limit as usize;
    products.truncate(limit as usize);
    Ok((products, more))
}

/// Saves name, price, threshold, version and update time of a locked product.
pub async fn save_catalog(conn: &mut PgConnection, p: &Product) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE products SET name = $2, unit_price_minor = $3, low_stock_threshold = $4,
                             version = $5, updated_at = $6
         WHERE id = $1",
    )
    .bind(p.id.0)
    .bind(&p.name)
    .bind(p.unit_price.0)
    .bind(p.low_stock_threshold)
    .bind(p.version)
    .bind(p.updated_at)
    .execute(conn)
    .await?;
    Ok(())
}

/// Adds `delta` to the level of `sku` unless that would leave `[0, max]`; one conditional
/// statement, so concurrent adjustments and reservations cannot overdraw. Returns the product
/// after the change, or `None` when nothing was changed.
pub async fn adjust_level(
    conn: &mut PgConnection,
    sku: &Sku,
    delta: i64,
    max: i64,
    at: OffsetDateTime,
) -> Result<Option<Product>, sqlx::Error> {
    let sql = format!(
        "UPDATE products SET stock_level = stock_level + $2, version = version + 1, updated_at = $4
         WHERE sku = $1 AND stock_level + $2 BETWEEN 0 AND $3
         RETURNING {COLUMNS}"
    );
    sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(sku.as_str())
        .bind(delta)
        .bind(max)
        .bind(at)
        .fetch_optional(conn)
        .await?
        .as_ref()
        .map(product)
        .transpose()
}
