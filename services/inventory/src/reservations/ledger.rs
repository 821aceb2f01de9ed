//! A batch of reservation commands applied in memory, in delivery order, over the rows the batch
//! locked and read; then written back with one statement per table. The rules are those of one
//! event at a time: the first decision for an order wins (a later confirmation changes
//! nothing; a cancel before any confirmation means never reserving), a reservation takes all
//! lines or none, a release gives back exactly the units held, and every stock change bumps the
//! product's version once and emits its `StockLevelChanged`.

use std::collections::{BTreeMap, HashMap};

use orderflow_inbox::EventFailed;
use orderflow_outbox::OutboxMessage;
use sqlx::PgConnection;
use time::OffsetDateTime;
use uuid::Uuid;

use super::store::{self, Decision, DecisionRow, OrderState};
use super::{Command, RELEASED, RESERVED, Reserve, malformed};
use crate::domain::{Product, ProductId};
use crate::error::InventoryError;
use crate::events::{self, LevelChange, Short};

/// Applies `commands` (one per fresh event of the batch) on `tx`.
pub(super) async fn apply(tx: &mut PgConnection, commands: &[Command]) -> Result<(), EventFailed> {
    // A database failure concerns the whole batch, not one event.
    let whole = |e: InventoryError| EventFailed {
        index: 0,
        error: e.into(),
    };
    let mut orders = Vec::with_capacity(commands.len());
    let mut skus = Vec::new();
    for c in commands {
        match c {
            Command::Reserve(r) => {
                orders.push(r.order_id);
                skus.extend(r.wanted.keys().cloned());
            }
            Command::Release { order_id, .. } => orders.push(*order_id),
            Command::Ignore => {}
        }
    }
    if orders.is_empty() {
        return Ok(());
    }
    // The global lock order: orders (advisory, ascending key), then products (ascending sku).
    let read = async {
        store::lock_orders(tx, &orders).await?;
        let products = store::lock_products_for(tx, &skus, &orders).await?;
        let decisions = store::load_decisions(tx, &orders).await?;
        Ok::<_, sqlx::Error>((products, decisions))
    };
    let (products, decisions) = read.await.map_err(|e| whole(e.into()))?;
    let mut ledger = Ledger::new(products, decisions);
    for (index, c) in commands.iter().enumerate() {
        let applied = match c {
            Command::Reserve(r) => ledger.reserve(r),
            Command::Release {
                order_id,
                committed_at,
            } => ledger.release(*order_id, *committed_at),
            Command::Ignore => Ok(()),
        };
        applied.map_err(|e| EventFailed {
            index,
            error: e.into(),
        })?;
    }
    ledger.save(tx).await.map_err(whole)
}

/// One order's decision as the batch goes.
struct Entry {
    decision: Decision,
    /// Recorded before this batch (so it is updated, not inserted).
    existed: bool,
    /// Changed by this batch.
    dirty: bool,
    committed_at: Option<OffsetDateTime>,
}

struct Ledger {
    now: OffsetDateTime,
    /// The locked products by sku, as changed so far.
    products: BTreeMap<String, Product>,
    /// Each product's version as read under the lock.
    read_versions: HashMap<ProductId, i64>,
    skus: HashMap<ProductId, String>,
    orders: HashMap<Uuid, Entry>,
    new_lines: Vec<(Uuid, ProductId, i64)>,
    messages: Vec<OutboxMessage>,
}

impl Ledger {
    fn new(products: Vec<Product>, decisions: HashMap<Uuid, Decision>) -> Self {
        Self {
            now: OffsetDateTime::now_utc(),
            read_versions: products.iter().map(|p| (p.id, p.version)).collect(),
            skus: products
                .iter()
                .map(|p| (p.id, p.sku.as_str().to_owned()))
                .collect(),
            products: products
                .into_iter()
                .map(|p| (p.sku.as_str().to_owned(), p))
                .collect(),
            orders: decisions
                .into_iter()
                .map(|(id, decision)| {
                    let entry = Entry {
                        decision,
                        existed: true,
                        dirty: false,
                        committed_at: None,
                    };
                    (id, entry)
                })
                .collect(),
            new_lines: Vec::new(),
            messages: Vec::new(),
        }
    }

    /// Records the first decision for an order.
    fn decide(&mut self, order_id: Uuid, decision: Decision, at: Option<OffsetDateTime>) {
        let entry = Entry {
            decision,
            existed: false,
            dirty: true,
            committed_at: at,
        };
        self.orders.insert(order_id, entry);
    }

    /// Moves `quantity` units of `sku` from the level to reserved (negative: back), with its
    /// event.
    fn move_units(
        &mut self,
        sku: &str,
        quantity: i64,
        reason: &str,
        order_id: Uuid,
    ) -> Result<ProductId, InventoryError> {
        let p = self
            .products
            .get_mut(sku)
            .ok_or_else(|| malformed(format!("product {sku} is not locked")))?;
        if p.stock_level < quantity || p.reserved + quantity < 0 {
            return Err(malformed(format!("units of {sku} went missing")));
        }
        let old_level = p.stock_level;
        p.stock_level -= quantity;
        p.reserved += quantity;
        p.version += 1;
        p.updated_at = self.now;
        let change = LevelChange {
            old_level,
            new_level: p.stock_level,
            reason: reason.to_owned(),
            order_id: Some(order_id),
        };
        self.messages
            .push(events::stock_level_changed(p, &change, self.now)?);
        Ok(p.id)
    }

    fn reserve(&mut self, r: &Reserve) -> Result<(), InventoryError> {
        if self.orders.contains_key(&r.order_id) {
            return Ok(());
        }
        let shorts: Vec<Short> = r
            .wanted
            .iter()
            .filter_map(|(sku, &requested)| match self.products.get(sku) {
                None => Some(Short {
                    sku: sku.clone(),
                    requested,
                    available: 0,
                    unknown: true,
                }),
                Some(p) if p.stock_level < requested => Some(Short {
                    sku: sku.clone(),
                    requested,
                    available: p.stock_level,
                    unknown: false,
                }),
                Some(_) => None,
            })
            .collect();
        if !shorts.is_empty() {
            let rejection = events::reservation_rejected(
                r.order_id,
                r.customer_id,
                r.order_version,
                &shorts,
                self.now,
            )?;
            self.messages.push(rejection);
            let decision = Decision {
                state: OrderState::Rejected,
                lines: Vec::new(),
            };
            self.decide(r.order_id, decision, r.committed_at);
            metrics::counter!("inventory_reservations_total", "outcome" => "rejected").increment(1);
            record_lag(r.committed_at, self.now);
            return Ok(());
        }
        let mut held = Vec::with_capacity(r.wanted.len());
        for (sku, &quantity) in &r.wanted {
            let id = self.move_units(sku, quantity, RESERVED, r.order_id)?;
            held.push((id, quantity));
            self.new_lines.push((r.order_id, id, quantity));
        }
        let decision = Decision {
            state: OrderState::Reserved,
            lines: held,
        };
        self.decide(r.order_id, decision, r.committed_at);
        metrics::counter!("inventory_reservations_total", "outcome" => "reserved").increment(1);
        record_lag(r.committed_at, self.now);
        Ok(())
    }

    fn release(
        &mut self,
        order_id: Uuid,
        committed_at: Option<OffsetDateTime>,
    ) -> Result<(), InventoryError> {
        let lines = match self.orders.get(&order_id) {
            // Cancelled before we saw it confirmed: it must never be reserved later.
            None => {
                let decision = Decision {
                    state: OrderState::Cancelled,
                    lines: Vec::new(),
                };
                self.decide(order_id, decision, committed_at);
                return Ok(());
            }
            Some(entry) if entry.decision.state != OrderState::Reserved => return Ok(()),
            Some(entry) => entry.decision.lines.clone(),
        };
        // In sku order, like the reservation that held them.
        let mut by_sku = Vec::with_capacity(lines.len());
        for (id, quantity) in lines {
            let sku = self
                .skus
                .get(&id)
                .ok_or_else(|| malformed(format!("reserved units of {id} went missing")))?;
            by_sku.push((sku.clone(), quantity));
        }
        by_sku.sort();
        for (sku, quantity) in by_sku {
            self.move_units(&sku, -quantity, RELEASED, order_id)?;
        }
        if let Some(entry) = self.orders.get_mut(&order_id) {
            entry.decision.state = OrderState::Released;
            entry.dirty = true;
        }
        metrics::counter!("inventory_releases_total").increment(1);
        Ok(())
    }

    /// Writes the batch's outcome: decisions, new lines, stock, then the events.
    async fn save(self, tx: &mut PgConnection) -> Result<(), InventoryError> {
        let mut rows: Vec<DecisionRow> = self
            .orders
            .iter()
            .filter(|(_, e)| e.dirty)
            .map(|(id, e)| DecisionRow {
                order_id: *id,
                state: e.decision.state,
                event_committed_at: if e.existed { None } else { e.committed_at },
            })
            .collect();
        rows.sort_by_key(|r| r.order_id);
        store::save_decisions(tx, &rows).await?;
        store::insert_lines(tx, &self.new_lines).await?;
        let changed: Vec<(&Product, i64)> = self
            .products
            .values()
            .filter_map(|p| {
                let read = self.read_versions[&p.id];
                (p.version != read).then_some((p, read))
            })
            .collect();
        if !store::save_levels(tx, &changed).await? {
            // Impossible under the row locks; retrying the batch is the safe answer to a bug.
            let bug = sqlx::Error::Protocol("stock changed under a lock".to_owned());
            return Err(bug.into());
        }
        orderflow_outbox::enqueue(tx, &self.messages).await?;
        Ok(())
    }
}

/// Time from the orders service's commit of the event to our decision.
fn record_lag(committed_at: Option<OffsetDateTime>, now: OffsetDateTime) {
    if let Some(at) = committed_at {
        let lag = (now - at).as_seconds_f64().max(0.0);
        metrics::histogram!("inventory_reservation_lag_seconds").record(lag);
    }
}
