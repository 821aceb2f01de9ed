//! PostgreSQL persistence of orders and the local catalog. Each write that changes an order
//! also writes its events to the outbox in the same transaction (for a transition, the same
//! statement).

mod catalog;
mod idempotency;
mod orders;

pub use catalog::{CatalogEntry, apply_product_upserted, find_by_skus};
pub use idempotency::{
    Committed, KeyedSave, RecordedKey, find_idempotent, find_key, purge_idempotency_keys,
    record_idempotency_key, save_keyed_transition,
};
pub use orders::{
    OrderPage, PageCursor, insert_order, list_orders, load_order, load_order_for_update,
    next_order_number, save_transition, save_transition_if_unchanged,
};

/// Runs the orders service's migrations and those of the outbox and inbox it uses.
pub async fn migrate(pool: &sqlx::PgPool) -> anyhow::Result<()> {
    sqlx::migrate!("./migrations").run(pool).await?;
    orderflow_outbox::migrate(pool).await?;
    orderflow_inbox::migrate(pool).await?;
    Ok(())
}
