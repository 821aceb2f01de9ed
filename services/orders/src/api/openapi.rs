//! The OpenAPI 3.1 document, generated from the handlers' annotations and served at
//! `/api/openapi.json`.

use axum::Json;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use super::dto;
use super::handlers;

/// The orders API description.
#[derive(OpenApi)]
#[openapi(
    info(title = "OrderFlow orders API", description = "Orders and their life cycle. Errors are RFC 9457 problem+json documents with a stable `code`."),
    paths(handlers::create_order, handlers::list_orders, handlers::get_order, handlers::transition),
    components(schemas(dto::CreateOrderRequest, dto::LineRequestDto, dto::CancelRequest, dto::OrderDto, dto::OrderLineDto, dto::OrderListDto)),
    modifiers(&BearerAuth)
)]
pub struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .build(),
            ),
        );
    }
}

/// `GET /api/openapi.json`.
pub async fn document() -> Json<utoipa::openapi::OpenApi> {
    Json(ApiDoc::openapi())
}
