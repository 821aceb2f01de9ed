//! Runtime plumbing shared by every OrderFlow service: RFC 9457 problem responses, telemetry,
//! shutdown signals, health and metrics endpoints, and how an unreachable database is answered
//! and logged, and the HTTP server loop with the deadlines and connection caps that keep hostile
//! clients from taking a service off the air. Nothing here knows about orders or stock.

pub mod connect;
pub mod database;
pub mod health;
pub mod limits;
pub mod metrics;
pub mod problem;
pub mod readiness;
pub mod serve;
pub mod shutdown;
pub mod storm;
pub mod telemetry;

pub use problem::Problem;
