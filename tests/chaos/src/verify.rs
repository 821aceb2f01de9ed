//! After a round, the truth in the databases, beside the clients' verdict:
//!
//! - [`orders`]: every change the driver was told about is in the orders database; every order
//!   of the round has its events in the `ORDERS` stream exactly once, versions 1 to its
//!   version in the database; and no order is in the database that the driver was not told
//!   about, unless its create's answer was lost at the very end (the driver stopped before the
//!   retry). A create applied twice, or a transition applied without its answer and then again,
//!   shows up here.
//! - [`stock`]: once inventory has caught up, every confirmed order holds its units exactly
//!   once, the product's reserved units are the sum of those, and its level is the initial stock
//!   minus them. Also the slowest reservation: from the confirmation's commit in orders to the
//!   reservation's in inventory.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::{Duration, Instant};

use sqlx::PgPool;
use uuid::Uuid;

use crate::driver::DriverReport;
use crate::stream::Stored;
use crate::system::SKU;

/// Problems with the acknowledged changes, the orders database and the stream (empty: none).
pub async fn orders(
    pool: &PgPool,
    driver: &DriverReport,
    stored: &[Stored],
    seed_order: Uuid,
) -> anyhow::Result<Vec<String>> {
    let in_db: HashMap<Uuid, i64> =
        sqlx::query_as::<_, (Uuid, i64)>("SELECT id, version FROM orders")
            .fetch_all(pool)
            .await?
            .into_iter()
            .filter(|(id, _)| *id != seed_order)
            .collect();
    let create_keys: HashMap<(Uuid, String), Uuid> = sqlx::query_as::<_, (Uuid, String, Uuid)>(
        "SELECT customer_id, key, order_id FROM idempotency_keys WHERE result_status IS NULL",
    )
    .fetch_all(pool)
    .await?
    .into_iter()
    .map(|(customer, key, order)| ((customer, key), order))
    .collect();
    let mut problems = Vec::new();
    let mut acked_orders = HashSet::new();
    for a in &driver.acked {
        acked_orders.insert(a.order);
        match in_db.get(&a.order) {
            Some(&v) if v as u64 >= a.version => {}
            found => problems.push(format!(
                "acknowledged version {} of order {} is not in the database (found {found:?})",
                a.version, a.order
            )),
        }
    }
    let unanswered: HashSet<Uuid> = driver
        .unanswered_creates
        .iter()
        .filter_map(|(customer, key)| create_keys.get(&(*customer, key.to_string())).copied())
        .collect();
    for order in in_db.keys() {
        if !acked_orders.contains(order) && !unanswered.contains(order) {
            problems.push(format!(
                "order {order} is in the database but was never acknowledged"
            ));
        }
    }
    let mut streamed: BTreeMap<Uuid, Vec<u64>> = BTreeMap::new();
    for s in stored {
        let order = s.order.parse().unwrap_or_default();
        streamed.entry(order).or_default().push(s.version);
    }
    for (order, &version) in &in_db {
        let mut versions = streamed.remove(order).unwrap_or_default();
        versions.sort_unstable();
        if !versions.iter().copied().eq(1..=version as u64) {
            problems.push(format!(
                "order {order} is at version {version} but the stream has {versions:?}"
            ));
        }
    }
    for (order, versions) in streamed {
        problems.push(format!(
            "the stream has {versions:?} of {order}, which the database lacks"
        ));
    }
    Ok(problems)
}

/// The stock check.
#[derive(Debug, Default)]
pub struct Stock {
    /// Empty when the stock adds up.
    pub problems: Vec<String>,
    /// Units reserved at the end.
    pub reserved: i64,
    /// The longest time from an `OrderConfirmed`'s commit to its reservation's.
    pub slowest_reservation: Option<Duration>,
}

/// Waits (at most `within`) until inventory has reserved stock for every order that holds it,
/// then checks the units against `initial`.
pub async fn stock(
    orders: &PgPool,
    inventory: &PgPool,
    initial: i64,
    within: Duration,
) -> anyhow::Result<Stock> {
    // Confirmed orders hold stock until cancelled, and the driver never cancels.
    let holding: HashMap<Uuid, i64> = sqlx::query_as::<_, (Uuid, i64)>(
        "SELECT o.id, sum(l.quantity)::bigint FROM orders o JOIN order_lines l ON l.order_id = o.id
         WHERE o.status IN ('Confirmed', 'Processing', 'Shipped', 'Delivered') GROUP BY o.id",
    )
    .fetch_all(orders)
    .await?
    .into_iter()
    .collect();
    let deadline = Instant::now() + within;
    let reserved_orders = loop {
        let reserved: HashMap<Uuid, i64> = sqlx::query_as::<_, (Uuid, i64)>(
            "SELECT r.order_id, coalesce(sum(l.quantity), 0)::bigint
             FROM order_reservations r LEFT JOIN reservation_lines l USING (order_id)
             WHERE r.status = 'reserved' GROUP BY r.order_id",
        )
        .fetch_all(inventory)
        .await?
        .into_iter()
        .collect();
        if reserved == holding || Instant::now() > deadline {
            break reserved;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let mut problems = Vec::new();
    let missing = holding
        .keys()
        .filter(|o| !reserved_orders.contains_key(o))
        .count();
    let extra = reserved_orders
        .keys()
        .filter(|o| !holding.contains_key(o))
        .count();
    let wrong = holding
        .iter()
        .filter(|(o, q)| reserved_orders.get(o).is_some_and(|r| r != *q))
        .count();
    if missing + extra + wrong > 0 {
        problems.push(format!(
            "{missing} confirmed orders without a reservation, {extra} reservations without a \
             confirmed order, {wrong} with other quantities (after {within:?})"
        ));
    }
    let (level, reserved): (i64, i64) =
        sqlx::query_as("SELECT stock_level, reserved FROM products WHERE sku = $1")
            .bind(SKU)
            .fetch_one(inventory)
            .await?;
    let held: i64 = holding.values().sum();
    if reserved != held || level != initial - held {
        problems.push(format!(
            "stock {level} + reserved {reserved}, expected {} + {held} (initial {initial})",
            initial - held
        ));
    }
    let slowest: Option<f64> = sqlx::query_scalar(
        "SELECT max(extract(epoch FROM decided_at - event_committed_at))::float8
         FROM order_reservations WHERE event_committed_at IS NOT NULL",
    )
    .fetch_one(inventory)
    .await?;
    Ok(Stock {
        problems,
        reserved,
        slowest_reservation: slowest.map(|s| Duration::from_secs_f64(s.max(0.0))),
    })
}
