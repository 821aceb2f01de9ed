//! The orders service: the Order aggregate, its REST API, and the outbox that turns every state
//! change into events on JetStream. `main.rs` only wires; tests start [`app::OrdersApp`] on
//! port 0 against real PostgreSQL and NATS.

pub mod api;
pub mod app;
pub mod config;
pub mod domain;
pub mod events;
pub mod idempotency;
pub mod reactions;
pub mod service;
pub mod store;

pub use app::OrdersApp;
pub use config::Config;
