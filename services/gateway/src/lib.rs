//! The OrderFlow gateway: a SignalR-compatible hub (`/hubs/orders`) over authenticated
//! WebSockets. Browsers join groups (their own orders, the admin dashboard); each group maps to
//! one NATS subscription per gateway on the republished live subject space, and events are
//! encoded once and fanned out to every member with their stream position, so a client that
//! reconnects anywhere can resume without a gap.
//!
//! Code tour: [`protocol`] (wire format) → [`endpoints`] (negotiate, upgrade) → [`session`] and
//! `socket` (one connection) → [`groups`] (NATS fan-out) → [`translate`] (events to hub
//! messages) → `hub` and `resume` (hub methods) → [`app`] (wiring, drain).

pub mod app;
pub mod config;
pub mod endpoints;
pub mod error;
pub mod groups;
mod hub;
pub mod metrics;
pub mod protocol;
pub mod registry;
mod resume;
pub mod session;
mod socket;
pub mod stateful;
pub mod translate;

pub use app::{Gateway, HUB_PATH};
pub use config::GatewaySettings;
pub use error::GatewayError;
pub use hub::resume_result;
