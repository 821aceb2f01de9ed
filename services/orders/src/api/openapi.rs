//! The OpenAPI 3.1 document, generated from the handlers' annotations and served at
//! `/api/openapi.json`.

use orderflow_service::openapi::{BearerAuth, Problems};
use utoipa::OpenApi;

use super::dto;
use super::handlers;

/// Error responses name the codes the orders service answers.
const PROBLEMS: Problems = Problems { service: "orders" };

/// The orders API description.
#[derive(OpenApi)]
#[openapi(
    info(title = "OrderFlow orders API", description = "Orders and their life cycle. Errors are RFC 9457 problem+json documents with a stable `code`."),
    paths(handlers::create_order, handlers::list_orders, handlers::get_order, handlers::confirm, handlers::cancel, handlers::process, handlers::ship, handlers::deliver),
    components(schemas(dto::CreateOrderRequest, dto::LineRequestDto, dto::CancelRequest, dto::OrderDto, dto::OrderLineDto, dto::OrderListDto)),
    modifiers(&BearerAuth, &PROBLEMS)
)]
pub struct ApiDoc;

orderflow_service::openapi_tests!(ApiDoc, "orders");
