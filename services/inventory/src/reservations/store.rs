//! The set-based statements behind a batch of order events: lock what the batch touches (in the
//! global lock order), load the decisions already made, and write back the batch's outcome —
//! a fixed handful of statements per batch, however many events it holds.

use std::collections::HashMap;

use sqlx::PgConnection;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::domain::{Product, ProductId};
use crate::store::{COLUMNS, product};

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

/// Locks and reads, in sku order, the products with these skus and those holding units for
/// these orders: every product row a batch of order events can change, in one statement.
/// Call after [`lock_orders`], so no other transaction is changing these orders' lines.
pub async fn lock_products_for(
    conn: &mut PgConnection,
    skus: &[String],
    orders: &[Uuid],
) -> Result<Vec<Product>, sqlx::Error> {
    let sql = format!(
        "SELECT {COLUMNS} FROM products
         WHERE sku = ANY($1)
            OR id IN (SELECT product_id FROM reservation_lines WHERE order_id = ANY($2))
         ORDER BY sku
         FOR UPDATE OF products"
    );
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(skus)
        .bind(orders)
        .fetch_all(conn)
        .await?;
    rows.iter().map(product).collect()
}

/// A decision already recorded for an order, with the units it holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    /// The recorded state.
    pub state: OrderState,
    /// Units held per product (for a reserved order).
    pub lines: Vec<(ProductId, i64)>,
}

/// The decisions recorded for these orders (absent: never heard of).
pub async fn load_decisions(
    conn: &mut PgConnection,
    orders: &[Uuid],
) -> Result<HashMap<Uuid, Decision>, sqlx::Error> {
    let rows: Vec<(Uuid, String, Option<Uuid>, Option<i64>)> = sqlx::query_as(
        "SELECT o.order_id, o.status, l.product_id, l.quantity
         FROM order_reservations o LEFT JOIN reservation_lines l USING (order_id)
         WHERE o.order_id = ANY($1)",
    )
    .bind(orders)
    .fetch_all(conn)
    .await?;
    let mut decisions: HashMap<Uuid, Decision> = HashMap::new();
    for (order_id, status, product_id, quantity) in rows {
        let state = OrderState::parse(&status).ok_or_else(|| sqlx::Error::Decode(status.into()))?;
        let decision = decisions.entry(order_id).or_insert(Decision {
            state,
            lines: Vec::new(),
        });
        if let (Some(id), Some(q)) = (product_id, quantity) {
            decision.lines.push((ProductId(id), q));
        }
    }
    Ok(decisions)
}

/// One order's new state for [`save_decisions`]: inserted if new (with when its deciding event
/// was committed), otherwise its status is updated.
pub struct DecisionRow {
    /// The order.
    pub order_id: Uuid,
    /// Its state after the batch.
    pub state: OrderState,
    /// Commit time of the event that first decided it.
    pub event_committed_at: Option<OffsetDateTime>,
}

/// Records new decisions and state changes in one statement.
pub async fn save_decisions(
    conn: &mut PgConnection,
    rows: &[DecisionRow],
) -> Result<(), sqlx::Error> {
    if rows.is_empty() {
        return Ok(());
    }
    let ids: Vec<Uuid> = rows.iter().map(|r| r.order_id).collect();
    let states: Vec<&str> = rows.iter().map(|r| r.state.as_str()).collect();
    let committed: Vec<Option<OffsetDateTime>> =
        rows.iter().map(|r| r.event_committed_at).collect();
    sqlx::query(
        "INSERT INTO order_reservations (order_id, status, event_committed_at)
         SELECT * FROM unnest($1::uuid[], $2::text[], $3::timestamptz[])
         ON CONFLICT (order_id) DO UPDATE
         SET status = EXCLUDED.status, updated_at = clock_timestamp()",
    )
    .bind(&ids)
    .bind(&states)
    .bind(&committed)
    .execute(conn)
    .await?;
    Ok(())
}

/// Records the units held for newly reserved orders: `(order, product, quantity)`.
pub async fn insert_lines(
    conn: &mut PgConnection,
    lines: &[(Uuid, ProductId, i64)],
) -> Result<(), sqlx::Error> {
    if lines.is_empty() {
        return Ok(());
    }
    let orders: Vec<Uuid> = lines.iter().map(|l| l.0).collect();
    let products: Vec<Uuid> = lines.iter().map(|l| l.1.0).collect();
    let quantities: Vec<i64> = lines.iter().map(|l| l.2).collect();
    sqlx::query(
        "INSERT INTO reservation_lines (order_id, product_id, quantity)
         SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::bigint[])",
    )
    .bind(&orders)
    .bind(&products)
    .bind(&quantities)
    .execute(conn)
    .await?;
    Ok(())
}

/// Writes the stock of locked products after the batch, each only if its version is still the
/// one read under the lock (`(product after, version read)`); `false` if any was not, which
/// the row locks make impossible short of a bug. The CHECKs still refuse a negative level.
pub async fn save_levels(
    conn: &mut PgConnection,
    products: &[(&Product, i64)],
) -> Result<bool, sqlx::Error> {
    if products.is_empty() {
        return Ok(true);
    }
    let ids: Vec<Uuid> = products.iter().map(|(p, _)| p.id.0).collect();
    let levels: Vec<i64> = products.iter().map(|(p, _)| p.stock_level).collect();
    let reserved: Vec<i64> = products.iter().map(|(p, _)| p.reserved).collect();
    let versions: Vec<i64> = products.iter().map(|(p, _)| p.version).collect();
    let read: Vec<i64> = products.iter().map(|(_, v)| *v).collect();
    let at: Vec<OffsetDateTime> = products.iter().map(|(p, _)| p.updated_at).collect();
    let done = sqlx::query(
        "UPDATE products p
         SET stock_level = u.level, reserved = u.reserved, version = u.version, updated_at = u.at
         FROM unnest($1::uuid[], $2::bigint[], $3::bigint[], $4::bigint[], $5::bigint[],
                     $6::timestamptz[]) AS u(id, level, reserved, version, read, at)
         WHERE p.id = u.id AND p.version = u.read",
    )
    .bind(&ids)
    .bind(&levels)
    .bind(&reserved)
    .bind(&versions)
    .bind(&read)
    .bind(&at)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == products.len() as u64)
}
