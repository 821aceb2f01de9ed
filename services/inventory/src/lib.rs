//! The inventory service: the product catalog and its stock, a REST API over them, stock
//! reservations driven by order events (an idempotent inbox consumer), and an outbox that turns
//! every change into events on JetStream. `main.rs` only wires; tests start
//! [`app::InventoryApp`] on port 0 against real PostgreSQL and NATS.
//!
//! Stock model: `stockLevel` is the number of units available for sale. Confirming an order
//! moves its units from the level to `reserved` (event reason `reserved`); cancelling it moves
//! them back (`released`); admins adjust the level with a reason of their own. The level never
//! goes below zero.

pub mod api;
pub mod app;
pub mod config;
pub mod demo;
pub mod domain;
pub mod error;
pub mod events;
pub mod reservations;
pub mod service;
pub mod store;

pub use app::InventoryApp;
pub use config::Config;
pub use error::InventoryError;
