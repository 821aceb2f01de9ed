//! The transactional outbox (docs/architecture.md), shared by every service that emits events.
//!
//! A service writes its business rows and its events in one PostgreSQL transaction with
//! [`enqueue_then_wake`] and wakes its relay after the commit with [`RelayWaker`] (or, where it
//! cannot run code after its commit, with [`enqueue`], which notifies relays through `NOTIFY`).
//! An optimistic writer makes its conditional change and writes its events in one statement
//! with [`enqueue_with_change`] (and [`enqueue_with_change_and`] when a record must commit with
//! it). Nothing is published from a request handler. A [`Relay`] then
//! publishes the rows to JetStream in commit order per aggregate, and its delete of them commits
//! only once every publish is acknowledged. JetStream drops duplicates by `Nats-Msg-Id` (the
//! event id), so a relay that dies between the ack and that commit cannot store an event twice.
//! [`ensure_streams`] creates or updates the streams idempotently.
//!
//! Every enqueue stores the current span's W3C trace context with its rows, and the relay sends
//! it as the `traceparent`/`tracestate` headers, so consumers continue the writer's trace.

mod error;
mod message;
mod relay;
mod streams;
mod trace;

pub use error::Error;
pub use message::{
    OutboxMessage, PgQuery, enqueue, enqueue_then_wake, enqueue_with_change,
    enqueue_with_change_and, pending_count,
};
pub use relay::{Relay, RelaySettings, RelayWaker};
pub use streams::{StreamSettings, ensure_streams};

/// The `LISTEN`/`NOTIFY` channel relays wake on.
const NOTIFY_CHANNEL: &str = "orderflow_outbox";

/// Creates or upgrades the outbox table. Uses its own migrations table so that each service's
/// own migrations stay independent of this crate's.
pub async fn migrate(pool: &sqlx::PgPool) -> Result<(), Error> {
    let mut migrator = sqlx::migrate!("./migrations");
    migrator.dangerous_set_table_name("_orderflow_outbox_migrations");
    migrator.run(pool).await?;
    Ok(())
}
