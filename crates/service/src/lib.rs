//! The skeleton the orders and inventory services share, so each wires only what is its own
//! (its use cases, routes and background consumers) in a few lines:
//!
//! - [`Service`]: connects PostgreSQL and NATS, builds the router around the service's API
//!   (readiness, metrics, request tracing), runs the outbox relay, serves until shutdown and
//!   then publishes what the last requests committed;
//! - [`Settings`]: the settings every such service reads (NATS, log format, auth, streams,
//!   HTTP limits);
//! - [`extract`]: request extractors whose rejections are problem documents;
//! - [`postgres`]: the pool and its readiness check; [`outage`]: how an unreachable database is
//!   answered (503 with `Retry-After`) and logged (once per outage);
//! - [`openapi`]: what every OpenAPI document of ours declares (bearer auth, problem codes);
//! - [`service_app!`]: `Deref` to the [`Service`], `router()` and `serve()` for an app type.
//!
//! The gateway and dev-idp do not use this crate: they have no database, and linking sqlx
//! into them would only cost build time.

mod app;
pub mod errors;
pub mod extract;
pub mod http_metrics;
pub mod openapi;
pub mod outage;
pub mod postgres;
mod service;
mod settings;

pub use service::{Service, bind_retrying, listen};
pub use settings::Settings;

/// What the macros name, so a service using them needs no dependency for it.
#[doc(hidden)]
pub mod __private {
    pub use {anyhow, axum, tokio, tokio_util, utoipa};
}
