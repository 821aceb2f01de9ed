//! Use cases of the orders service: each one loads the aggregate, applies a command, and saves
//! it together with the resulting outbox events in a single PostgreSQL transaction (for a
//! transition, a single statement after an unlocked read).

use std::collections::HashMap;

use orderflow_connections::Connections;
use orderflow_outbox::RelayWaker;
use orderflow_service::errors::Infrastructure;
use sqlx::PgConnection;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::domain::{
    Command, CustomerId, NewOrder, Order, OrderId, OrderLine, OrderStatus, Quantity, Sku,
    TransitionError,
};
use crate::events::to_outbox;
use crate::idempotency;
use crate::store::{self, OrderPage, PageCursor};

/// Who is acting, as established by their token.
#[derive(Debug, Clone)]
pub struct Actor {
    /// The caller's user id; for customers also their customer id.
    pub customer_id: CustomerId,
    /// Display name from the token.
    pub name: String,
    /// Holds the Admin role.
    pub is_admin: bool,
}

/// Why a use case failed; the API maps each to a problem status.
#[derive(Debug, thiserror::Error)]
pub enum OrderError {
    /// No such order, or not one the caller may see.
    #[error("order not found")]
    NotFound,
    /// The command does not apply in the current status.
    #[error(transparent)]
    Transition(#[from] TransitionError),
    /// `If-Match` named another version.
    #[error("the order is at version {current}, not {expected}")]
    VersionMismatch {
        /// The version the caller sent.
        expected: u64,
        /// The order's version now.
        current: u64,
    },
    /// Lines named skus the catalog does not have.
    #[error("unknown skus: {}", .0.join(", "))]
    UnknownSkus(Vec<String>),
    /// Products priced in different currencies cannot share an order.
    #[error("products are priced in different currencies: {}", .0.join(", "))]
    MixedCurrencies(Vec<String>),
    /// The idempotency key was used before with a different request (another body, order,
    /// command or `If-Match`).
    #[error("idempotency key was already used for a different request")]
    IdempotencyKeyReused,
    /// The database, the outbox or the event contract failed.
    #[error(transparent)]
    Infrastructure(Infrastructure),
}

orderflow_service::infrastructure_error!(OrderError);

/// A requested line before pricing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineRequest {
    /// Which product.
    pub sku: Sku,
    /// How many.
    pub quantity: Quantity,
}

/// The orders use cases over one database.
#[derive(Clone)]
pub struct OrderService {
    connections: Connections,
    relay: RelayWaker,
}

impl OrderService {
    /// Use cases over the database of `connections`, waking `relay` after every commit that
    /// wrote events so they are published at once. The waker is required: a service that wakes
    /// nothing still works, but its events wait for the relay's next poll. The app's is
    /// [`OrdersApp::orders`].
    ///
    /// [`OrdersApp::orders`]: crate::OrdersApp::orders
    pub fn new(connections: Connections, relay: RelayWaker) -> Self {
        Self { connections, relay }
    }

    /// Places a draft order priced from the local catalog. With an idempotency key, a retry of
    /// the same request returns the first order (`false` = not newly created).
    pub async fn create(
        &self,
        actor: &Actor,
        requested: &[LineRequest],
        idempotency_key: Option<&str>,
    ) -> Result<(Order, bool), OrderError> {
        let outcome = self
            .connections
            .transaction(async |tx| create_in(tx, actor, requested, idempotency_key).await)
            .await;
        if let Ok((_, true)) = outcome {
            // After the commit: a relay woken earlier would not see the rows yet.
            self.relay.wake();
            metrics::counter!("orders_created_total").increment(1);
        }
        outcome
    }

    /// Reads one order the actor may see.
    pub async fn get(&self, actor: &Actor, id: OrderId) -> Result<Order, OrderError> {
        let mut conn = self.connections.acquire().await?;
        let order = store::load_order(&mut conn, id).await?;
        conn.release();
        visible(actor, order)
    }

    /// Lists the actor's orders (all orders for admins, optionally one customer's).
    pub async fn list(
        &self,
        actor: &Actor,
        customer: Option<CustomerId>,
        status: Option<OrderStatus>,
        after: Option<PageCursor>,
        limit: u32,
    ) -> Result<OrderPage, OrderError> {
        let customer = if actor.is_admin {
            customer
        } else {
            Some(actor.customer_id)
        };
        let mut conn = self.connections.acquire().await?;
        let page = store::list_orders(&mut conn, customer, status, after, limit).await?;
        conn.release();
        Ok(page)
    }

    /// Applies `command`. `if_match` (from `If-Match`) must equal the current version when
    /// given. Whether the actor may issue the command at all is the caller's check; this only
    /// hides other customers' orders.
    pub async fn transition(
        &self,
        actor: &Actor,
        id: OrderId,
        command: &Command,
        if_match: Option<u64>,
    ) -> Result<Order, OrderError> {
        self.transition_with_key(actor, id, command, if_match, None)
            .await
            .map(|(order, _)| order)
    }

    /// [`transition`](Self::transition) under an idempotency key ([`crate::idempotency`]) when
    /// one is given: a retry of a committed request returns the order as that request left it
    /// (`true` = replayed, nothing changed now).
    pub async fn transition_with_key(
        &self,
        actor: &Actor,
        id: OrderId,
        command: &Command,
        if_match: Option<u64>,
        key: Option<&str>,
    ) -> Result<(Order, bool), OrderError> {
        let mut conn = self.connections.acquire().await?;
        let request = TransitionRequest {
            actor,
            id,
            command,
            if_match,
        };
        let outcome = match key {
            Some(key) => idempotency::transition_on(&mut conn, &request, key).await,
            None => transition_on(&mut conn, &request)
                .await
                .map(|order| (order, false)),
        };
        match &outcome {
            // It may be broken.
            Err(OrderError::Infrastructure(
                Infrastructure::Database(_) | Infrastructure::Outbox(_),
            )) => drop(conn),
            // Refusals (404, 409, 412) keep it: they cost no new connections.
            _ => conn.release(),
        }
        if let Ok((_, false)) = outcome {
            self.relay.wake();
            metrics::counter!("orders_transitions_total", "command" => command.name()).increment(1);
        }
        outcome
    }
}

/// Places the order inside the transaction `tx`.
async fn create_in(
    tx: &mut PgConnection,
    actor: &Actor,
    requested: &[LineRequest],
    idempotency_key: Option<&str>,
) -> Result<(Order, bool), OrderError> {
    let id = OrderId(Uuid::now_v7());
    if let Some(key) = idempotency_key {
        let fingerprint = fingerprint(requested);
        let earlier =
            store::record_idempotency_key(tx, actor.customer_id, key, &fingerprint, id).await?;
        if let Some((earlier_fingerprint, earlier_id)) = earlier {
            if earlier_fingerprint != fingerprint {
                return Err(OrderError::IdempotencyKeyReused);
            }
            let order = store::load_order(tx, earlier_id)
                .await?
                .ok_or(OrderError::NotFound)?;
            return Ok((order, false));
        }
    }
    let lines = price(tx, requested).await?;
    let currency = lines
        .first()
        .map(|(_, c)| c.clone())
        .unwrap_or_else(|| "USD".to_owned());
    let now = now();
    let number = store::next_order_number(tx, now.year()).await?;
    let (order, events) = Order::create(
        NewOrder {
            id,
            number,
            customer_id: actor.customer_id,
            customer_name: actor.name.clone(),
            lines: lines.into_iter().map(|(l, _)| l).collect(),
            currency,
        },
        now,
    );
    store::insert_order(tx, &order).await?;
    orderflow_outbox::enqueue_then_wake(tx, &to_outbox(&order, &events, now)?).await?;
    Ok((order, true))
}

/// Applies `command` on `conn`, outside any transaction.
///
/// Optimistic: the order is read without a lock and the new state and its events are written in
/// one statement only if the order is still at the version read: two round trips and no explicit
/// transaction, where locking took five. A lost race re-reads and decides again (now perhaps a
/// 409 or 412). Each lost race means another transition committed, and an order has at most five
/// in its life, so the loop ends.
async fn transition_on(
    conn: &mut PgConnection,
    request: &TransitionRequest<'_>,
) -> Result<Order, OrderError> {
    loop {
        let Decided {
            order,
            read_version,
            messages,
        } = decide(conn, request).await?;
        if store::save_transition_if_unchanged(conn, &order, read_version, &messages).await? {
            return Ok(order);
        }
    }
}

/// The read-and-decide half of an optimistic transition, shared by plain and keyed ones.
pub(crate) struct Decided {
    /// The order with `command` applied.
    pub order: Order,
    /// The version it was read at: the write applies only if it is still there.
    pub read_version: u64,
    /// The events of the transition, as outbox rows.
    pub messages: Vec<orderflow_outbox::OutboxMessage>,
}

/// What a transition request asks: `command` on order `id` by `actor`, if the order is at
/// version `if_match` (when given).
pub(crate) struct TransitionRequest<'a> {
    /// Who asks; they must be allowed to see the order.
    pub actor: &'a Actor,
    /// The order.
    pub id: OrderId,
    /// What to do.
    pub command: &'a Command,
    /// The version the caller read (`If-Match`).
    pub if_match: Option<u64>,
}

/// Reads the order as the actor may see it, checks `If-Match`, and applies the command.
pub(crate) async fn decide(
    conn: &mut PgConnection,
    request: &TransitionRequest<'_>,
) -> Result<Decided, OrderError> {
    let mut order = visible(request.actor, store::load_order(conn, request.id).await?)?;
    if let Some(expected) = request.if_match
        && expected != order.version
    {
        return Err(OrderError::VersionMismatch {
            expected,
            current: order.version,
        });
    }
    let read_version = order.version;
    let now = now();
    let events = order.handle(request.command, now)?;
    let messages = to_outbox(&order, &events, now)?;
    Ok(Decided {
        order,
        read_version,
        messages,
    })
}

/// The current time as PostgreSQL stores it (microseconds), so that what a request answers
/// equals what a later read, or the replay of a retried request, returns.
pub(crate) fn now() -> OffsetDateTime {
    let t = OffsetDateTime::now_utc();
    t.replace_nanosecond(t.nanosecond() / 1_000 * 1_000)
        .unwrap_or(t)
}

/// The order if the actor may see it; another customer's order is [`OrderError::NotFound`].
pub(crate) fn visible(actor: &Actor, order: Option<Order>) -> Result<Order, OrderError> {
    match order {
        Some(o) if actor.is_admin || o.customer_id == actor.customer_id => Ok(o),
        // Another customer's order looks exactly like a missing one, so ids cannot be probed.
        _ => Err(OrderError::NotFound),
    }
}

/// A canonical form of a create request, to tell a retry from a different request.
fn fingerprint(requested: &[LineRequest]) -> String {
    requested
        .iter()
        .map(|l| format!("{}x{}", l.sku, l.quantity.get()))
        .collect::<Vec<_>>()
        .join(",")
}

/// Prices the requested lines from the local catalog.
async fn price(
    conn: &mut PgConnection,
    requested: &[LineRequest],
) -> Result<Vec<(OrderLine, String)>, OrderError> {
    let skus: Vec<Sku> = requested.iter().map(|l| l.sku.clone()).collect();
    let catalog: HashMap<Sku, store::CatalogEntry> = store::find_by_skus(conn, &skus)
        .await?
        .into_iter()
        .map(|e| (e.sku.clone(), e))
        .collect();
    let mut unknown: Vec<String> = skus
        .iter()
        .filter(|s| !catalog.contains_key(s))
        .map(Sku::to_string)
        .collect();
    if !unknown.is_empty() {
        unknown.dedup();
        return Err(OrderError::UnknownSkus(unknown));
    }
    let mut currencies: Vec<String> = catalog.values().map(|e| e.currency.clone()).collect();
    currencies.sort();
    currencies.dedup();
    if currencies.len() > 1 {
        return Err(OrderError::MixedCurrencies(currencies));
    }
    Ok(requested
        .iter()
        .map(|l| {
            let entry = &catalog[&l.sku];
            let line = OrderLine {
                sku: l.sku.clone(),
                product_id: entry.product_id,
                product_name: entry.name.clone(),
                quantity: l.quantity,
                unit_price: entry.unit_price,
            };
            (line, entry.currency.clone())
        })
        .collect())
}
