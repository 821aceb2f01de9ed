//! The OpenAPI 3.1 document, generated from the handlers' annotations and served at
//! `/api/openapi.json`.

use axum::Json;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use super::dto;
use super::handlers;

/// The inventory API description.
#[derive(OpenApi)]
#[openapi(
    info(title = "OrderFlow inventory API", description = "Product catalog and stock. `stockLevel` is the number of units available for sale; confirmed orders move units to `reserved`, cancellations move them back. Errors are RFC 9457 problem+json documents with a stable `code`."),
    paths(handlers::create_product, handlers::list_products, handlers::get_product, handlers::update_product, handlers::adjust_stock),
    components(schemas(dto::CreateProductRequest, dto::UpdateProductRequest, dto::StockAdjustmentRequest, dto::ProductDto, dto::ProductListDto, dto::StockAdjustmentDto)),
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
