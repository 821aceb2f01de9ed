//! PostgreSQL persistence of products, stock and per-order reservations. Every function runs on
//! the caller's connection, so a use case composes them into one transaction with its outbox
//! rows.

use sqlx::postgres::PgRow;
use sqlx::{PgConnection, Row as _};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::domain::{Money, Product, ProductId, Sku};

const COLUMNS: &str = "id, sku, name, unit_price_minor, currency, stock_level, reserved, \
     low_stock_threshold, version, created_at, updated_at";

/// Runs the service's migrations and the outbox's and inbox's.
pub async fn migrate(pool: &sqlx::PgPool) -> anyhow::Result<()> {
    sqlx::migrate!("./migrations").run(pool).await?;
    orderflow_outbox::migrate(pool).await?;
    orderflow_inbox::migrate(pool).await?;
    Ok(())
}

fn product(row: &PgRow) -> Result<Product, sqlx::Error> {
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

/// Takes, in one statement and in ascending key order, a transaction-scoped advisory lock per
/// order: whoever decides an order (claims, reads or changes its `order_reservations` row)
/// holds its lock first, so two batches sharing orders queue instead of deadlocking on each
/// other's uncommitted claims. Keys are 64 bits of the (random) order id; a collision only
/// makes two orders wait for each other.
pub async fn lock_orders(conn: &mut PgConnection, orders: &[Uuid]) -> Result<(), sqlx::Error> {
    if orders.is_empty() {
        return Ok(());
    }
    let keys: Vec<i64> = orders.iter().map(|id| order_lock_key(*id)).collect();
    // The sorted subquery fixes the order in which the locks are taken.
    sqlx::query(
        "SELECT pg_advisory_xact_lock(k)
         FROM (SELECT DISTINCT k FROM unnest($1::bigint[]) AS k ORDER BY k) keys",
    )
    .bind(&keys)
    .execute(conn)
    .await?;
    Ok(())
}

fn order_lock_key(id: Uuid) -> i64 {
    let (high, low) = id.as_u64_pair();
    i64::from_ne_bytes((high ^ low).to_ne_bytes())
}

/// Locks, in sku order (the order [`lock_by_skus`] and [`load_lines`] use), the products with
/// these skus and those holding units for these orders: every product row a batch of order
/// events can change, taken up front by one statement.
pub async fn lock_products_for(
    conn: &mut PgConnection,
    skus: &[String],
    orders: &[Uuid],
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "SELECT id FROM products
         WHERE sku = ANY($1)
            OR id IN (SELECT product_id FROM reservation_lines WHERE order_id = ANY($2))
         ORDER BY sku
         FOR UPDATE OF products",
    )
    .bind(skus)
    .bind(orders)
    .execute(conn)
    .await?;
    Ok(())
}

/// Locks the products with these skus, in sku order so that concurrent reservations of
/// overlapping orders cannot deadlock.
pub async fn lock_by_skus(
    conn: &mut PgConnection,
    skus: &[&str],
) -> Result<Vec<Product>, sqlx::Error> {
    let sql = format!("SELECT {COLUMNS} FROM products WHERE sku = ANY($1) ORDER BY sku FOR UPDATE");
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(skus)
        .fetch_all(conn)
        .await?;
    rows.iter().map(product).collect()
}

/// Moves `quantity` units between available and reserved (`quantity > 0` reserves, `< 0`
/// releases), only if neither would go negative. Returns the product after the change.
pub async fn move_units(
    conn: &mut PgConnection,
    id: ProductId,
    quantity: i64,
    at: OffsetDateTime,
) -> Result<Option<Product>, sqlx::Error> {
    let sql = format!(
        "UPDATE products SET stock_level = stock_level - $2, reserved = reserved + $2,
                             version = version + 1, updated_at = $3
         WHERE id = $1 AND stock_level >= $2 AND reserved + $2 >= 0
         RETURNING {COLUMNS}"
    );
    sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(id.0)
        .bind(quantity)
        .bind(at)
        .fetch_optional(conn)
        .await?
        .as_ref()
        .map(product)
        .transpose()
}

/// What inventory decided for an order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OrderState {
    /// Stock is held for it.
    Reserved,
    /// It could not be filled; nothing was held.
    Rejected,
    /// It was cancelled after being reserved; the units went back.
    Released,
    /// It was cancelled before any confirmation reached us; nothing will be reserved.
    Cancelled,
}

impl OrderState {
    fn as_str(self) -> &'static str {
        match self {
            Self::Reserved => "reserved",
            Self::Rejected => "rejected",
            Self::Released => "released",
            Self::Cancelled => "cancelled",
        }
    }

    fn parse(raw: &str) -> Option<Self> {
        Some(match raw {
            "reserved" => Self::Reserved,
            "rejected" => Self::Rejected,
            "released" => Self::Released,
            "cancelled" => Self::Cancelled,
            _ => return None,
        })
    }
}

/// Records the first decision for an order; `false` when one exists already (nothing written).
pub async fn claim_order(
    conn: &mut PgConnection,
    order_id: Uuid,
    state: OrderState,
    event_committed_at: Option<OffsetDateTime>,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "INSERT INTO order_reservations (order_id, status, event_committed_at) VALUES ($1, $2, $3)
         ON CONFLICT (order_id) DO NOTHING",
    )
    .bind(order_id)
    .bind(state.as_str())
    .bind(event_committed_at)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// The decision recorded for an order, locking it until the transaction ends.
pub async fn lock_order(
    conn: &mut PgConnection,
    order_id: Uuid,
) -> Result<Option<OrderState>, sqlx::Error> {
    let status: Option<String> =
        sqlx::query_scalar("SELECT status FROM order_reservations WHERE order_id = $1 FOR UPDATE")
            .bind(order_id)
            .fetch_optional(conn)
            .await?;
    status
        .map(|s| OrderState::parse(&s).ok_or_else(|| sqlx::Error::Decode(s.into())))
        .transpose()
}

/// Changes the recorded decision of an order.
pub async fn set_order_state(
    conn: &mut PgConnection,
    order_id: Uuid,
    state: OrderState,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE order_reservations SET status = $2, updated_at = clock_timestamp() WHERE order_id = $1",
    )
    .bind(order_id)
    .bind(state.as_str())
    .execute(conn)
    .await?;
    Ok(())
}

/// Records the units held for a reserved order.
pub async fn insert_lines(
    conn: &mut PgConnection,
    order_id: Uuid,
    lines: &[(ProductId, i64)],
) -> Result<(), sqlx::Error> {
    let ids: Vec<Uuid> = lines.iter().map(|(id, _)| id.0).collect();
    let quantities: Vec<i64> = lines.iter().map(|(_, q)| *q).collect();
    sqlx::query(
        "INSERT INTO reservation_lines (order_id, product_id, quantity)
         SELECT $1, * FROM unnest($2::uuid[], $3::bigint[])",
    )
    .bind(order_id)
    .bind(&ids)
    .bind(&quantities)
    .execute(conn)
    .await?;
    Ok(())
}

/// The units held for an order, in sku order (the order in which reservations lock rows, so
/// a release and a reservation cannot deadlock).
pub async fn load_lines(
    conn: &mut PgConnection,
    order_id: Uuid,
) -> Result<Vec<(ProductId, i64)>, sqlx::Error> {
    let rows: Vec<(Uuid, i64)> = sqlx::query_as(
        "SELECT l.product_id, l.quantity FROM reservation_lines l
         JOIN products p ON p.id = l.product_id
         WHERE l.order_id = $1 ORDER BY p.sku",
    )
    .bind(order_id)
    .fetch_all(conn)
    .await?;
    Ok(rows.into_iter().map(|(id, q)| (ProductId(id), q)).collect())
}
