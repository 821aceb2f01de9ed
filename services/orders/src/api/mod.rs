//! The REST API: routes, JSON shapes, and the mapping of errors to RFC 9457 problems.

mod dto;
mod errors;
mod extract;
mod handlers;
mod openapi;

use axum::Router;
use axum::extract::FromRef;
use axum::routing::{get, post};
use orderflow_auth::Authenticator;

use crate::service::OrderService;

pub use openapi::ApiDoc;

#[doc(hidden)]
pub mod fuzzing {
    //! The request parsing and validation of the handlers, re-exported for the fuzz targets in
    //! `fuzz/`. Not an API: it may change with any commit.
    pub use super::dto::{CancelRequest, CreateOrderRequest, LineRequestDto};
    pub use super::extract::{decode_cursor, encode_cursor, idempotency_key, if_match, order_id};
    pub use super::handlers::{ListParams, cancel_reason, validate_lines};
    pub use orderflow_service::extract::{ApiJson, ApiQuery};
}

/// Everything a request handler needs; cheap to clone. Handlers extract the parts they need
/// (the `Principal` extractor takes the `Authenticator`).
#[derive(Clone, FromRef)]
pub struct ApiState {
    /// The use cases.
    pub orders: OrderService,
    /// Validates bearer tokens.
    pub authenticator: Authenticator,
}

/// The `/api/...` routes and the OpenAPI document.
pub fn routes(state: ApiState) -> Router {
    Router::new()
        .route(
            "/api/orders",
            post(handlers::create_order).get(handlers::list_orders),
        )
        .route("/api/orders/{id}", get(handlers::get_order))
        .route("/api/orders/{id}/confirm", post(handlers::confirm))
        .route("/api/orders/{id}/cancel", post(handlers::cancel))
        .route("/api/orders/{id}/process", post(handlers::process))
        .route("/api/orders/{id}/ship", post(handlers::ship))
        .route("/api/orders/{id}/deliver", post(handlers::deliver))
        .route(
            "/api/openapi.json",
            get(orderflow_service::openapi::document::<ApiDoc>),
        )
        .fallback(orderflow_service::errors::not_found_route)
        .with_state(state)
}
