//! The OpenAPI 3.1 document, generated from the handlers' annotations and served at
//! `/api/openapi.json`.

use axum::Json;
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
    paths(handlers::create_order, handlers::list_orders, handlers::get_order, handlers::transition),
    components(schemas(dto::CreateOrderRequest, dto::LineRequestDto, dto::CancelRequest, dto::OrderDto, dto::OrderLineDto, dto::OrderListDto)),
    modifiers(&BearerAuth, &PROBLEMS)
)]
pub struct ApiDoc;

/// `GET /api/openapi.json`.
pub async fn document() -> Json<utoipa::openapi::OpenApi> {
    Json(ApiDoc::openapi())
}

#[cfg(test)]
mod tests {
    use orderflow_service::openapi::undocumented_codes;
    use utoipa::OpenApi;

    use super::ApiDoc;

    /// Every code of the table this service can answer appears under some documented response
    /// (so every status it can answer is declared), each as a problem+json body.
    #[test]
    fn every_error_response_is_a_problem_listing_its_codes() {
        let document = ApiDoc::openapi();
        assert_eq!(undocumented_codes(&document, "orders"), Vec::<&str>::new());
        let text = serde_json::to_string(&document).unwrap();
        assert!(text.contains("application/problem+json"));
        assert!(text.contains("\"#/components/schemas/Problem\""));
    }
}
