//! The OpenAPI 3.1 document, generated from the handlers' annotations and served at
//! `/api/openapi.json`.

use orderflow_service::openapi::{BearerAuth, Problems};
use utoipa::OpenApi;

use super::dto;
use super::handlers;

/// Error responses name the codes the inventory service answers.
const PROBLEMS: Problems = Problems {
    service: "inventory",
};

/// The inventory API description.
#[derive(OpenApi)]
#[openapi(
    info(title = "OrderFlow inventory API", description = "Product catalog and stock. `stockLevel` is the number of units available for sale; confirmed orders move units to `reserved`, cancellations move them back. Errors are RFC 9457 problem+json documents with a stable `code`."),
    paths(handlers::create_product, handlers::list_products, handlers::get_product, handlers::update_product, handlers::adjust_stock),
    components(schemas(dto::CreateProductRequest, dto::UpdateProductRequest, dto::StockAdjustmentRequest, dto::ProductDto, dto::ProductListDto, dto::StockAdjustmentDto)),
    modifiers(&BearerAuth, &PROBLEMS)
)]
pub struct ApiDoc;

orderflow_service::openapi_tests!(ApiDoc, "inventory");
