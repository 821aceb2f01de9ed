//! Reading and writing the Order aggregate.

use std::collections::HashMap;

use orderflow_outbox::OutboxMessage;
use sqlx::{PgConnection, Row as _, postgres::PgRow};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::domain::{
    CustomerId, Money, Order, OrderId, OrderLine, OrderStatus, ProductId, Quantity, Sku,
};

const ORDER_COLUMNS: &str = "id, order_number, customer_id, customer_name, status, currency, \
     version, cancel_reason, created_at, updated_at";

/// The next human order number for `year`, e.g. `ORD-2026-000123`. Sequence-backed, so unique
/// and never reused even when the transaction that took it rolls back.
pub async fn next_order_number(conn: &mut PgConnection, year: i32) -> Result<String, sqlx::Error> {
    let n: i64 = sqlx::query_scalar("SELECT nextval('order_number_seq')")
        .fetch_one(conn)
        .await?;
    Ok(format!("ORD-{year}-{n:06}"))
}

/// Inserts a new order and its lines.
pub async fn insert_order(conn: &mut PgConnection, order: &Order) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO orders (id, order_number, customer_id, customer_name, status, currency,
                             total_minor, version, cancel_reason, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
    )
    .bind(order.id.0)
    .bind(&order.number)
    .bind(order.customer_id.0)
    .bind(&order.customer_name)
    .bind(order.status.as_str())
    .bind(&order.currency)
    .bind(order.total().0)
    .bind(order.version as i64)
    .bind(&order.cancel_reason)
    .bind(order.created_at)
    .bind(order.updated_at)
    .execute(&mut *conn)
    .await?;
    let line_nos: Vec<i32> = (1..=order.lines.len() as i32).collect();
    let skus: Vec<&str> = order.lines.iter().map(|l| l.sku.as_str()).collect();
    let product_ids: Vec<Uuid> = order.lines.iter().map(|l| l.product_id.0).collect();
    let names: Vec<&str> = order
        .lines
        .iter()
        .map(|l| l.product_name.as_str())
        .collect();
    let quantities: Vec<i32> = order
        .lines
        .iter()
        .map(|l| l.quantity.get() as i32)
        .collect();
    let prices: Vec<i64> = order.lines.iter().map(|l| l.unit_price.0).collect();
    sqlx::query(
        "INSERT INTO order_lines (order_id, line_no, sku, product_id, product_name, quantity, unit_price_minor)
         SELECT $1, * FROM unnest($2::int[], $3::text[], $4::uuid[], $5::text[], $6::int[], $7::bigint[])",
    )
    .bind(order.id.0)
    .bind(&line_nos)
    .bind(&skus)
    .bind(&product_ids)
    .bind(&names)
    .bind(&quantities)
    .bind(&prices)
    .execute(conn)
    .await?;
    Ok(())
}

/// Persists the status, version and cancel reason after a transition.
pub async fn save_transition(conn: &mut PgConnection, order: &Order) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE orders SET status = $2, version = $3, cancel_reason = $4, updated_at = $5 WHERE id = $1",
    )
    .bind(order.id.0)
    .bind(order.status.as_str())
    .bind(order.version as i64)
    .bind(&order.cancel_reason)
    .bind(order.updated_at)
    .execute(conn)
    .await?;
    Ok(())
}

/// Saves a transition and writes its events in one statement (its own transaction), provided
/// the order is still at `read_version`, the version the transition was computed from. `false`
/// means another writer changed the order first and nothing was written.
pub async fn save_transition_if_unchanged(
    conn: &mut PgConnection,
    order: &Order,
    read_version: u64,
    events: &[OutboxMessage],
) -> Result<bool, orderflow_outbox::Error> {
    orderflow_outbox::enqueue_with_change(
        conn,
        TRANSITION_IF_UNCHANGED,
        |query| bind_transition(query, order, read_version),
        events,
    )
    .await
}

/// The conditional update of a transition: parameters `$7`-`$12` (see [`bind_transition`]),
/// returns the order's id if it applied.
pub(super) const TRANSITION_IF_UNCHANGED: &str =
    "UPDATE orders SET status = $8, version = $9, cancel_reason = $10, updated_at = $11
     WHERE id = $7 AND version = $12 RETURNING id";

/// Binds `$7`-`$12` of [`TRANSITION_IF_UNCHANGED`]: the order after the transition, and the
/// version it was computed from.
pub(super) fn bind_transition<'q>(
    query: orderflow_outbox::PgQuery<'q>,
    order: &'q Order,
    read_version: u64,
) -> orderflow_outbox::PgQuery<'q> {
    query
        .bind(order.id.0)
        .bind(order.status.as_str())
        .bind(order.version as i64)
        .bind(&order.cancel_reason)
        .bind(order.updated_at)
        .bind(read_version as i64)
}

/// Loads an order.
pub async fn load_order(
    conn: &mut PgConnection,
    id: OrderId,
) -> Result<Option<Order>, sqlx::Error> {
    load(conn, id, false).await
}

/// Loads an order and locks its row until the transaction ends, serialising writers of one
/// order (which also keeps its outbox rows in version order).
pub async fn load_order_for_update(
    conn: &mut PgConnection,
    id: OrderId,
) -> Result<Option<Order>, sqlx::Error> {
    load(conn, id, true).await
}

async fn load(
    conn: &mut PgConnection,
    id: OrderId,
    lock: bool,
) -> Result<Option<Order>, sqlx::Error> {
    // One round trip for the order and its lines: transitions are the hot path.
    let lock = if lock { " FOR UPDATE OF o" } else { "" };
    let columns = ORDER_COLUMNS
        .split(", ")
        .map(|c| format!("o.{c}"))
        .collect::<Vec<_>>()
        .join(", ");
    let sql = format!(
        "SELECT {columns}, l.sku, l.product_id, l.product_name, l.quantity, l.unit_price_minor
         FROM orders o LEFT JOIN order_lines l ON l.order_id = o.id
         WHERE o.id = $1 ORDER BY l.line_no{lock}"
    );
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(id.0)
        .fetch_all(&mut *conn)
        .await?;
    let Some(first) = rows.first() else {
        return Ok(None);
    };
    let mut order = order_from_row(first)?;
    for row in &rows {
        if row.try_get::<Option<String>, _>("sku")?.is_some() {
            order.lines.push(line_from_row(row)?);
        }
    }
    Ok(Some(order))
}

async fn load_lines(
    conn: &mut PgConnection,
    order_ids: &[Uuid],
) -> Result<Vec<(Uuid, OrderLine)>, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT order_id, sku, product_id, product_name, quantity, unit_price_minor
         FROM order_lines WHERE order_id = ANY($1) ORDER BY order_id, line_no",
    )
    .bind(order_ids)
    .fetch_all(conn)
    .await?;
    rows.iter()
        .map(|r| Ok((r.try_get("order_id")?, line_from_row(r)?)))
        .collect()
}

fn line_from_row(r: &PgRow) -> Result<OrderLine, sqlx::Error> {
    let sku: String = r.try_get("sku")?;
    let quantity: i32 = r.try_get("quantity")?;
    Ok(OrderLine {
        sku: Sku::parse(&sku).map_err(|e| sqlx::Error::Decode(Box::new(e)))?,
        product_id: ProductId(r.try_get("product_id")?),
        product_name: r.try_get("product_name")?,
        quantity: u32::try_from(quantity)
            .ok()
            .and_then(Quantity::new)
            .ok_or_else(|| sqlx::Error::Decode("stored quantity out of range".into()))?,
        unit_price: Money(r.try_get("unit_price_minor")?),
    })
}

fn order_from_row(row: &PgRow) -> Result<Order, sqlx::Error> {
    let status: String = row.try_get("status")?;
    let version: i64 = row.try_get("version")?;
    Ok(Order {
        id: OrderId(row.try_get("id")?),
        number: row.try_get("order_number")?,
        customer_id: CustomerId(row.try_get("customer_id")?),
        customer_name: row.try_get("customer_name")?,
        status: OrderStatus::parse(&status)
            .ok_or_else(|| sqlx::Error::Decode(format!("unknown status {status}").into()))?,
        lines: Vec::new(),
        currency: row.try_get("currency")?,
        version: version as u64,
        cancel_reason: row.try_get("cancel_reason")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
    })
}

/// Keyset position in a listing: the last order's creation time and id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageCursor {
    /// `created_at` of the last order returned.
    pub created_at: OffsetDateTime,
    /// `id` of the last order returned.
    pub id: Uuid,
}

/// One page of orders, newest first.
#[derive(Debug, Clone)]
pub struct OrderPage {
    /// The orders.
    pub orders: Vec<Order>,
    /// Where the next page starts, if there is one.
    pub next: Option<PageCursor>,
}

/// Lists orders newest first; `customer` restricts to one customer (non-admins always pass it).
pub async fn list_orders(
    conn: &mut PgConnection,
    customer: Option<CustomerId>,
    status: Option<OrderStatus>,
    after: Option<PageCursor>,
    limit: u32,
) -> Result<OrderPage, sqlx::Error> {
    let sql = format!(
        "SELECT {ORDER_COLUMNS} FROM orders
         WHERE ($1::uuid IS NULL OR customer_id = $1)
           AND ($2::text IS NULL OR status = $2)
           AND ($3::timestamptz IS NULL OR (created_at, id) < ($3, $4))
         ORDER BY created_at DESC, id DESC
         LIMIT $5"
    );
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(customer.map(|c| c.0))
        .bind(status.map(OrderStatus::as_str))
        .bind(after.map(|c| c.created_at))
        .bind(after.map(|c| c.id))
        .bind(i64::from(limit) + 1)
        .fetch_all(&mut *conn)
        .await?;
    let mut orders = rows
        .iter()
        .map(order_from_row)
        .collect::<Result<Vec<_>, _>>()?;
    let has_more = orders.len() > limit as usize;
    orders.truncate(limit as usize);
    let ids: Vec<Uuid> = orders.iter().map(|o| o.id.0).collect();
    let mut lines: HashMap<Uuid, Vec<OrderLine>> = HashMap::new();
    for (order_id, line) in load_lines(conn, &ids).await? {
        lines.entry(order_id).or_default().push(line);
    }
    for order in &mut orders {
        order.lines = lines.remove(&order.id.0).unwrap_or_default();
    }
    let next = has_more
        .then(|| {
            orders.last().map(|o| PageCursor {
                created_at: o.created_at,
                id: o.id.0,
            })
        })
        .flatten();
    Ok(OrderPage { orders, next })
}
