//! HTTP handlers: parse, authorise, call the use case, shape the response. Reading the catalog
//! needs any valid token; changing it needs the Admin role.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use orderflow_auth::{Principal, require_admin};
use orderflow_runtime::Problem;
use orderflow_runtime::problem::codes;
use orderflow_service::extract::{ApiJson, ApiQuery};
use serde::Deserialize;

use super::ApiState;
use super::dto::{
    CreateProductRequest, ProductDto, ProductListDto, StockAdjustmentDto, StockAdjustmentRequest,
    UpdateProductRequest,
};
use super::extract::{decode_cursor, path_sku};
use crate::domain::{DEFAULT_THRESHOLD, MAX_UNITS, Money, NewProduct, ProductPatch, Sku};

/// Default and largest page sizes.
const DEFAULT_PAGE: u32 = 20;
const MAX_PAGE: u32 = 100;
/// Longest product name and adjustment reason, in characters.
const MAX_TEXT: usize = 200;

fn invalid(detail: impl Into<String>) -> Problem {
    Problem::new(codes::VALIDATION_FAILED).detail(detail)
}

pub fn text(field: &str, raw: &str) -> Result<String, Problem> {
    let value = raw.trim();
    if value.is_empty() || value.chars().count() > MAX_TEXT {
        return Err(invalid(format!(
            "{field} must be 1 to {MAX_TEXT} characters."
        )));
    }
    Ok(value.to_owned())
}

pub fn units(field: &str, value: i64) -> Result<i64, Problem> {
    if (0..=MAX_UNITS).contains(&value) {
        Ok(value)
    } else {
        Err(invalid(format!("{field} must be 0 to {MAX_UNITS}.")))
    }
}

pub fn price(raw: &str) -> Result<Money, Problem> {
    Money::parse(raw.trim()).map_err(|e| invalid(format!("unitPrice: {e}")))
}

/// `POST /api/products`: an Admin adds a product.
#[utoipa::path(post, path = "/api/products", request_body = CreateProductRequest,
    responses((status = 201, description = "The new product; `Location` names it", body = ProductDto), (status = 400), (status = 401), (status = 403),
              (status = 409, description = "The sku is taken"), (status = 422), (status = 503, description = "Database unavailable; retry after Retry-After")),
    security(("bearer" = [])))]
pub async fn create_product(
    State(state): State<ApiState>,
    principal: Principal,
    ApiJson(body): ApiJson<CreateProductRequest>,
) -> Result<Response, Problem> {
    require_admin(&principal)?;
    let new = NewProduct {
        sku: Sku::parse(&body.sku).map_err(|e| invalid(format!("sku: {e}")))?,
        name: text("name", &body.name)?,
        unit_price: price(&body.unit_price)?,
        stock_level: units("initialStock", body.initial_stock.unwrap_or(0))?,
        low_stock_threshold: units(
            "lowStockThreshold",
            body.low_stock_threshold.unwrap_or(DEFAULT_THRESHOLD),
        )?,
    };
    let product = state.catalog.create(new).await?;
    let mut response = (StatusCode::CREATED, Json(ProductDto::from(&product))).into_response();
    if let Ok(location) = HeaderValue::from_str(&format!("/api/products/{}", product.sku)) {
        response.headers_mut().insert(header::LOCATION, location);
    }
    Ok(response)
}

/// Query of `GET /api/products`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ListQuery {
    /// Page size, 1 to 100 (default 20).
    pub limit: Option<u32>,
    /// `nextCursor` of the previous page.
    pub cursor: Option<String>,
}

/// `GET /api/products`: the catalog in sku order, a page at a time.
#[utoipa::path(get, path = "/api/products", params(ListQuery),
    responses((status = 200, description = "A page of products in sku order", body = ProductListDto), (status = 400), (status = 401), (status = 503, description = "Database unavailable; retry after Retry-After")),
    security(("bearer" = [])))]
pub async fn list_products(
    State(state): State<ApiState>,
    _principal: Principal,
    ApiQuery(query): ApiQuery<ListQuery>,
) -> Result<Json<ProductListDto>, Problem> {
    let limit = query.limit.unwrap_or(DEFAULT_PAGE);
    if !(1..=MAX_PAGE).contains(&limit) {
        return Err(
            Problem::new(codes::INVALID_QUERY).detail(format!("limit must be 1 to {MAX_PAGE}."))
        );
    }
    let after = query.cursor.as_deref().map(decode_cursor).transpose()?;
    let (products, more) = state.catalog.list(after.as_ref(), limit).await?;
    let next_cursor = more
        .then(|| products.last().map(|p| p.sku.to_string()))
        .flatten();
    Ok(Json(ProductListDto {
        items: products.iter().map(ProductDto::from).collect(),
        next_cursor,
    }))
}

/// `GET /api/products/{sku}`.
#[utoipa::path(get, path = "/api/products/{sku}", params(("sku" = String, Path)),
    responses((status = 200, description = "The product", body = ProductDto), (status = 400), (status = 401), (status = 404), (status = 503, description = "Database unavailable; retry after Retry-After")),
    security(("bearer" = [])))]
pub async fn get_product(
    State(state): State<ApiState>,
    _principal: Principal,
    Path(sku): Path<String>,
) -> Result<Json<ProductDto>, Problem> {
    let product = state.catalog.get(&path_sku(&sku)?).await?;
    Ok(Json(ProductDto::from(&product)))
}

/// `PATCH /api/products/{sku}`: an Admin changes name, price or threshold.
#[utoipa::path(patch, path = "/api/products/{sku}", params(("sku" = String, Path)),
    request_body = UpdateProductRequest,
    responses((status = 200, description = "The product after the change", body = ProductDto), (status = 400), (status = 401), (status = 403),
              (status = 404), (status = 422), (status = 503, description = "Database unavailable; retry after Retry-After")),
    security(("bearer" = [])))]
pub async fn update_product(
    State(state): State<ApiState>,
    principal: Principal,
    Path(sku): Path<String>,
    ApiJson(body): ApiJson<UpdateProductRequest>,
) -> Result<Json<ProductDto>, Problem> {
    require_admin(&principal)?;
    let sku = path_sku(&sku)?;
    let patch = ProductPatch {
        name: body.name.as_deref().map(|n| text("name", n)).transpose()?,
        unit_price: body.unit_price.as_deref().map(price).transpose()?,
        low_stock_threshold: body
            .low_stock_threshold
            .map(|t| units("lowStockThreshold", t))
            .transpose()?,
    };
    if patch == ProductPatch::default() {
        return Err(invalid(
            "Send at least one of name, unitPrice, lowStockThreshold.",
        ));
    }
    let product = state.catalog.update(&sku, patch).await?;
    Ok(Json(ProductDto::from(&product)))
}

/// `POST /api/products/{sku}/stock-adjustments`: an Admin adds or removes units.
#[utoipa::path(post, path = "/api/products/{sku}/stock-adjustments", params(("sku" = String, Path)),
    request_body = StockAdjustmentRequest,
    responses((status = 200, description = "The adjustment and the new stock level", body = StockAdjustmentDto), (status = 400), (status = 401),
              (status = 403), (status = 404),
              (status = 409, description = "The level would go below zero"), (status = 422), (status = 503, description = "Database unavailable; retry after Retry-After")),
    security(("bearer" = [])))]
pub async fn adjust_stock(
    State(state): State<ApiState>,
    principal: Principal,
    Path(sku): Path<String>,
    ApiJson(body): ApiJson<StockAdjustmentRequest>,
) -> Result<Json<StockAdjustmentDto>, Problem> {
    require_admin(&principal)?;
    let sku = path_sku(&sku)?;
    if body.delta == 0 || body.delta.unsigned_abs() > MAX_UNITS.unsigned_abs() {
        return Err(invalid(format!(
            "delta must be non-zero and at most {MAX_UNITS} either way."
        )));
    }
    let reason = text("reason", &body.reason)?;
    let product = state.catalog.adjust(&sku, body.delta, &reason).await?;
    Ok(Json(StockAdjustmentDto {
        sku: product.sku.to_string(),
        old_level: product.stock_level - body.delta,
        new_level: product.stock_level,
        reason,
        version: product.version,
    }))
}
