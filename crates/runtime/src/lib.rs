//! Runtime plumbing shared by every OrderFlow service, the gateway and dev-idp included: RFC 9457
//! problem responses and the one table of their codes, telemetry, shutdown signals, health and
//! metrics endpoints, the NATS connection, HTTP clients, and the HTTP server loop with the
//! deadlines and connection caps that keep hostile clients from taking a service off the air. Nothing here
//! knows about orders or stock, or about PostgreSQL (that is `orderflow_service`, which the
//! gateway does not link).

pub mod connect;
pub mod health;
pub mod http;
pub mod limits;
pub mod metrics;
pub mod problem;
pub mod readiness;
pub mod serve;
pub mod shutdown;
pub mod storm;
pub mod telemetry;

pub use problem::Problem;
