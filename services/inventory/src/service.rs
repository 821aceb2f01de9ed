//! Catalog and stock use cases behind the REST API. Each is one PostgreSQL transaction that
//! changes the product and writes its events to the outbox, bumping the product's version once
//! per event.

use orderflow_connections::Connections;
use orderflow_outbox::{RelayWaker, enqueue_then_wake};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::domain::{CURRENCY, MAX_UNITS, NewProduct, Product, ProductId, ProductPatch, Sku};
use crate::error::InventoryError;
use crate::events::{self, LevelChange};
use crate::store;

/// Reason recorded on the stock event of a product created with stock.
pub const INITIAL_STOCK_REASON: &str = "initial stock";

/// The catalog and stock use cases over one database.
#[derive(Clone)]
pub struct CatalogService {
    connections: Connections,
    relay: RelayWaker,
}

impl CatalogService {
    /// Use cases over the database of `connections`, waking `relay` after every commit that
    /// wrote events so they are published at once (without it they wait for the relay's poll).
    pub fn new(connections: Connections, relay: RelayWaker) -> Self {
        Self { connections, relay }
    }

    /// Creates a product: `ProductUpserted` (version 1), and `StockLevelChanged` from 0
    /// (version 2) when it starts with stock.
    pub async fn create(&self, new: NewProduct) -> Result<Product, InventoryError> {
        let now = OffsetDateTime::now_utc();
        let mut product = Product {
            id: ProductId(Uuid::now_v7()),
            sku: new.sku,
            name: new.name,
            unit_price: new.unit_price,
            currency: CURRENCY.to_owned(),
            stock_level: 0,
            reserved: 0,
            low_stock_threshold: new.low_stock_threshold,
            version: 1,
            created_at: now,
            updated_at: now,
        };
        let mut messages = vec![events::product_upserted(&product, now)?];
        if new.stock_level > 0 {
            product.stock_level = new.stock_level;
            product.version = 2;
            let change = LevelChange {
                old_level: 0,
                new_level: new.stock_level,
                reason: INITIAL_STOCK_REASON.to_owned(),
                order_id: None,
            };
            messages.push(events::stock_level_changed(&product, &change, now)?);
        }
        self.connections
            .transaction(async |tx| {
                if !store::insert_product(tx, &product).await? {
                    return Err(InventoryError::SkuTaken(product.sku.clone()));
                }
                enqueue_then_wake(tx, &messages).await?;
                Ok(())
            })
            .await?;
        self.relay.wake();
        metrics::counter!("inventory_products_created_total").increment(1);
        Ok(product)
    }

    /// Reads one product.
    pub async fn get(&self, sku: &Sku) -> Result<Product, InventoryError> {
        let mut conn = self.connections.acquire().await?;
        let product = store::find_by_sku(&mut conn, sku, false).await?;
        conn.release();
        product.ok_or_else(|| InventoryError::NotFound(sku.clone()))
    }

    /// A page of products in sku order after `after`, and whether more follow.
    pub async fn list(
        &self,
        after: Option<&Sku>,
        limit: u32,
    ) -> Result<(Vec<Product>, bool), InventoryError> {
        let mut conn = self.connections.acquire().await?;
        let page = store::list_products(&mut conn, after, limit).await?;
        conn.release();
        Ok(page)
    }

    /// Changes catalog data. Emits `ProductUpserted` only when something actually changed, so
    /// a repeated PATCH is harmless.
    pub async fn update(&self, sku: &Sku, patch: ProductPatch) -> Result<Product, InventoryError> {
        let product = self
            .connections
            .transaction(async |tx| -> Result<Product, InventoryError> {
                let mut product = store::find_by_sku(tx, sku, true)
                    .await?
                    .ok_or_else(|| InventoryError::NotFound(sku.clone()))?;
                let before = product.clone();
                if let Some(name) = patch.name {
                    product.name = name;
                }
                if let Some(price) = patch.unit_price {
                    product.unit_price = price;
                }
                if let Some(threshold) = patch.low_stock_threshold {
                    product.low_stock_threshold = threshold;
                }
                if product == before {
                    return Ok(product);
                }
                let now = OffsetDateTime::now_utc();
                product.version += 1;
                product.updated_at = now;
                store::save_catalog(tx, &product).await?;
                let message = events::product_upserted(&product, now)?;
                enqueue_then_wake(tx, &[message]).await?;
                Ok(product)
            })
            .await?;
        // A repeated PATCH wrote no event; waking for it only costs the relay an empty claim.
        self.relay.wake();
        Ok(product)
    }

    /// Adds `delta` (positive or negative) to the level; a level below zero is refused.
    pub async fn adjust(
        &self,
        sku: &Sku,
        delta: i64,
        reason: &str,
    ) -> Result<Product, InventoryError> {
        let now = OffsetDateTime::now_utc();
        let product = self
            .connections
            .transaction(async |tx| {
                let Some(product) = store::adjust_level(tx, sku, delta, MAX_UNITS, now).await?
                else {
                    let current = store::find_by_sku(tx, sku, false)
                        .await?
                        .ok_or_else(|| InventoryError::NotFound(sku.clone()))?;
                    return Err(if delta < 0 {
                        InventoryError::InsufficientStock {
                            sku: sku.clone(),
                            available: current.stock_level,
                            delta,
                        }
                    } else {
                        InventoryError::StockOverflow(sku.clone())
                    });
                };
                let change = LevelChange {
                    old_level: product.stock_level - delta,
                    new_level: product.stock_level,
                    reason: reason.to_owned(),
                    order_id: None,
                };
                let message = events::stock_level_changed(&product, &change, now)?;
                enqueue_then_wake(tx, &[message]).await?;
                Ok(product)
            })
            .await?;
        self.relay.wake();
        metrics::counter!("inventory_stock_adjustments_total").increment(1);
        Ok(product)
    }
}
