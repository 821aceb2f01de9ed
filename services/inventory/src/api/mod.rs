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

use crate::service::CatalogService;

pub use dto::{
    CreateProductRequest, ProductDto, ProductListDto, StockAdjustmentDto, StockAdjustmentRequest,
    UpdateProductRequest,
};
pub use openapi::ApiDoc;

#[doc(hidden)]
pub mod fuzzing {
    //! The request parsing and validation of the handlers, re-exported for the fuzz targets in
    //! `fuzz/`. Not an API: it may change with any commit.
    pub use super::extract::{decode_cursor, path_sku};
    pub use super::handlers::{ListQuery, price, text, units};
    pub use orderflow_service::extract::{ApiJson, ApiQuery};
}

/// Everything a request handler needs; cheap to clone. Handlers extract the parts they need
/// (the `Principal` extractor takes the `Authenticator`).
#[derive(Clone, FromRef)]
pub struct ApiState {
    /// The use cases.
    pub catalog: CatalogService,
    /// Validates bearer tokens.
    pub authenticator: Authenticator,
}

/// The `/api/...` routes and the OpenAPI document.
pub fn routes(state: ApiState) -> Router {
    Router::new()
        .route(
            "/api/products",
            post(handlers::create_product).get(handlers::list_products),
        )
        .route(
            "/api/products/{sku}",
            get(handlers::get_product).patch(handlers::update_product),
        )
        .route(
            "/api/products/{sku}/stock-adjustments",
            post(handlers::adjust_stock),
        )
        .route(
            "/api/openapi.json",
            get(orderflow_service::openapi::document::<ApiDoc>),
        )
        .fallback(orderflow_service::errors::not_found_route)
        .with_state(state)
}
