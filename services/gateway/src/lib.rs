//! The OrderFlow gateway: a SignalR-compatible hub (`/hubs/orders`) over authenticated
//! WebSockets. Browsers join groups (their own orders, the admin dashboard); each group maps to
//! one NATS subscription per gateway on the republished live subject space, and events are
//! encoded once and fanned out to every member with their stream position, so a client that
//! reconnects anywhere can resume without a gap.

pub mod error;
pub mod protocol;
