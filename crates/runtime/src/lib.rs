//! Runtime plumbing shared by every OrderFlow service: RFC 9457 problem responses, telemetry,
//! shutdown signals, health and metrics endpoints, and how an unreachable database is answered
//! and logged. Nothing here knows about orders or stock.

pub mod connect;
pub mod database;
pub mod health;
pub mod metrics;
pub mod problem;
pub mod readiness;
pub mod shutdown;
pub mod storm;
pub mod telemetry;

pub use problem::Problem;
