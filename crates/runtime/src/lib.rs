//! Runtime plumbing shared by every OrderFlow service: RFC 9457 problem responses, telemetry,
//! shutdown signals, health and metrics endpoints. Nothing here knows about orders or stock.

pub mod connect;
pub mod health;
pub mod metrics;
pub mod problem;
pub mod shutdown;
pub mod telemetry;

pub use problem::Problem;
