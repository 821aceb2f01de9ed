//! HTTP handlers: parse, authorise, call the use case, shape the response.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use orderflow_auth::Principal;
use orderflow_runtime::Problem;
use orderflow_runtime::problem::codes;
use serde::Deserialize;
use uuid::Uuid;

use super::ApiState;
use super::dto::{CancelRequest, CreateOrderRequest, OrderDto, OrderListDto};
use orderflow_service::extract::{ApiJson, ApiQuery};

use super::extract::{decode_cursor, encode_cursor, etag, idempotency_key, if_match, order_id};
use crate::domain::{Command, CustomerId, OrderStatus, Quantity, Sku};
use crate::service::{Actor, LineRequest};

/// Most lines one order may have.
const MAX_LINES: usize = 100;
/// Default and largest page sizes.
const DEFAULT_PAGE: u32 = 20;
const MAX_PAGE: u32 = 100;

fn actor(principal: &Principal) -> Actor {
    Actor {
        customer_id: CustomerId(principal.user_id),
        name: principal.name.clone(),
        is_admin: principal.is_admin(),
    }
}

fn order_response(status: StatusCode, order: &crate::domain::Order) -> Response {
    let mut response = (status, axum::Json(OrderDto::from(order))).into_response();
    if let Ok(value) = HeaderValue::from_str(&etag(order.version)) {
        response.headers_mut().insert(header::ETAG, value);
    }
    response
}

/// Marks the answer to a retry that changed nothing now (`Idempotent-Replayed: true`, the
/// header the IETF Idempotency-Key draft's implementations use), so clients and logs can tell.
fn replayed(mut response: Response) -> Response {
    response
        .headers_mut()
        .insert(IDEMPOTENT_REPLAYED, HeaderValue::from_static("true"));
    response
}

const IDEMPOTENT_REPLAYED: header::HeaderName =
    header::HeaderName::from_static("idempotent-replayed");

/// `POST /api/orders`: the caller places a draft order.
#[utoipa::path(post, path = "/api/orders", request_body = CreateOrderRequest,
    params(("Idempotency-Key" = Option<String>, Header, description = "Makes retries safe")),
    responses((status = 201, description = "The new draft order; `Location` names it", body = OrderDto), (status = 200, description = "Retry of an earlier request", body = OrderDto),
              (status = 400), (status = 401), (status = 422),
              (status = 503, description = "Database unavailable; retry after Retry-After")),
    security(("bearer" = [])))]
pub async fn create_order(
    State(state): State<ApiState>,
    principal: Principal,
    headers: HeaderMap,
    ApiJson(body): ApiJson<CreateOrderRequest>,
) -> Result<Response, Problem> {
    let key = idempotency_key(&headers)?;
    let lines = validate_lines(&body)?;
    let (order, created) = state
        .orders
        .create(&actor(&principal), &lines, key.as_deref())
        .await?;
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    let mut response = order_response(status, &order);
    if let Ok(location) = HeaderValue::from_str(&format!("/api/orders/{}", order.id)) {
        response.headers_mut().insert(header::LOCATION, location);
    }
    Ok(if created {
        response
    } else {
        replayed(response)
    })
}

pub fn validate_lines(body: &CreateOrderRequest) -> Result<Vec<LineRequest>, Problem> {
    let invalid = |detail: String| Problem::new(codes::VALIDATION_FAILED).detail(detail);
    if body.lines.is_empty() || body.lines.len() > MAX_LINES {
        return Err(invalid(format!("An order needs 1 to {MAX_LINES} lines.")));
    }
    let mut lines: Vec<LineRequest> = Vec::with_capacity(body.lines.len());
    for (i, line) in body.lines.iter().enumerate() {
        let sku = Sku::parse(&line.sku).map_err(|e| invalid(format!("lines[{i}].sku: {e}")))?;
        let quantity = u32::try_from(line.quantity)
            .ok()
            .and_then(Quantity::new)
            .ok_or_else(|| {
                invalid(format!(
                    "lines[{i}].quantity must be 1 to {}.",
                    Quantity::MAX
                ))
            })?;
        if lines.iter().any(|l| l.sku == sku) {
            return Err(invalid(format!(
                "lines[{i}].sku {sku} appears twice; add up the quantities."
            )));
        }
        lines.push(LineRequest { sku, quantity });
    }
    Ok(lines)
}

/// `GET /api/orders/{id}`.
#[utoipa::path(get, path = "/api/orders/{id}", params(("id" = Uuid, Path)),
    responses((status = 200, description = "The order; `ETag` is its version", body = OrderDto), (status = 400), (status = 401), (status = 404), (status = 503, description = "Database unavailable; retry after Retry-After")),
    security(("bearer" = [])))]
pub async fn get_order(
    State(state): State<ApiState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<Response, Problem> {
    let order = state.orders.get(&actor(&principal), order_id(&id)?).await?;
    Ok(order_response(StatusCode::OK, &order))
}

/// Query of `GET /api/orders`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ListParams {
    /// Only orders in this status.
    status: Option<String>,
    /// Admins only: only this customer's orders.
    customer_id: Option<Uuid>,
    /// Page size, 1 to 100 (default 20).
    limit: Option<u32>,
    /// `nextCursor` of the previous page.
    cursor: Option<String>,
}

/// `GET /api/orders`: the caller's orders, or everyone's for admins; newest first.
#[utoipa::path(get, path = "/api/orders", params(ListParams),
    responses((status = 200, description = "A page of orders, newest first", body = OrderListDto), (status = 400), (status = 401), (status = 503, description = "Database unavailable; retry after Retry-After")),
    security(("bearer" = [])))]
pub async fn list_orders(
    State(state): State<ApiState>,
    principal: Principal,
    ApiQuery(params): ApiQuery<ListParams>,
) -> Result<Response, Problem> {
    let status = params
        .status
        .as_deref()
        .map(|s| {
            OrderStatus::parse(s).ok_or_else(|| {
                Problem::new(codes::INVALID_STATUS).detail(format!("Unknown status {s:?}."))
            })
        })
        .transpose()?;
    let limit = params.limit.unwrap_or(DEFAULT_PAGE);
    if !(1..=MAX_PAGE).contains(&limit) {
        return Err(
            Problem::new(codes::INVALID_LIMIT).detail(format!("limit must be 1 to {MAX_PAGE}."))
        );
    }
    let cursor = params.cursor.as_deref().map(decode_cursor).transpose()?;
    let page = state
        .orders
        .list(
            &actor(&principal),
            params.customer_id.map(CustomerId),
            status,
            cursor,
            limit,
        )
        .await?;
    let body = OrderListDto {
        items: page.orders.iter().map(OrderDto::from).collect(),
        next_cursor: page.next.map(encode_cursor),
    };
    Ok(axum::Json(body).into_response())
}

/// Declares the handler of one no-body action, `POST /api/orders/{id}/<action>`, with its
/// OpenAPI path: one documented path per action, one body of code for all of them.
macro_rules! action {
    ($(#[$doc:meta])* $name:ident, $path:tt, $who:tt, $command:expr) => {
        $(#[$doc])*
        #[utoipa::path(post, path = $path, description = $who,
            params(("id" = Uuid, Path), ("If-Match" = Option<String>, Header, description = IF_MATCH),
                   ("Idempotency-Key" = Option<String>, Header, description = IDEMPOTENCY_KEY)),
            responses((status = 200, description = "The order after the change; `ETag` is its new version", body = OrderDto), (status = 400), (status = 401), (status = 403),
                      (status = 404), (status = 409), (status = 412), (status = 422), (status = 503)),
            security(("bearer" = [])))]
        pub async fn $name(
            State(state): State<ApiState>,
            principal: Principal,
            Path(id): Path<String>,
            headers: HeaderMap,
        ) -> Result<Response, Problem> {
            transition(&state, &principal, &id, $command, &headers).await
        }
    };
}

const IF_MATCH: &str = "ETag of the version the change is based on";
const IDEMPOTENCY_KEY: &str = "Makes retries safe: a retry answers 200 with the order as the \
     first request left it, with `Idempotent-Replayed: true`";

action!(
    /// `POST /api/orders/{id}/confirm`: the owner confirms a draft; inventory then reserves.
    confirm, "/api/orders/{id}/confirm", "The owner (or an admin) confirms a draft order.",
    Command::Confirm
);
action!(
    /// `POST /api/orders/{id}/process`: an admin starts processing a confirmed order.
    process, "/api/orders/{id}/process", "An admin starts processing a confirmed order.",
    Command::StartProcessing
);
action!(
    /// `POST /api/orders/{id}/ship`: an admin ships an order in processing.
    ship, "/api/orders/{id}/ship", "An admin ships an order in processing.",
    Command::Ship
);
action!(
    /// `POST /api/orders/{id}/deliver`: an admin marks a shipped order delivered.
    deliver, "/api/orders/{id}/deliver", "An admin marks a shipped order delivered.",
    Command::Deliver
);

/// `POST /api/orders/{id}/cancel`: the owner or an admin cancels, with an optional reason.
#[utoipa::path(post, path = "/api/orders/{id}/cancel",
    description = "The owner or an admin cancels an order that has not shipped, with an optional reason.",
    params(("id" = Uuid, Path), ("If-Match" = Option<String>, Header, description = IF_MATCH),
           ("Idempotency-Key" = Option<String>, Header, description = IDEMPOTENCY_KEY)),
    request_body(content = Option<CancelRequest>, description = "The reason, shown to the customer"),
    responses((status = 200, description = "The order after the change; `ETag` is its new version", body = OrderDto), (status = 400), (status = 401), (status = 403),
              (status = 404), (status = 409), (status = 412), (status = 422), (status = 503)),
    security(("bearer" = [])))]
pub async fn cancel(
    State(state): State<ApiState>,
    principal: Principal,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Result<Response, Problem> {
    let reason = cancel_reason(&body, &principal)?;
    transition(
        &state,
        &principal,
        &id,
        Command::Cancel { reason },
        &headers,
    )
    .await
}

/// Applies `command` to order `id`: processing, shipping and delivering are for admins.
/// `If-Match` makes the change conditional on the version read; `Idempotency-Key` makes a
/// retry answer with what the first request committed.
async fn transition(
    state: &ApiState,
    principal: &Principal,
    id: &str,
    command: Command,
    headers: &HeaderMap,
) -> Result<Response, Problem> {
    let id = order_id(id)?;
    let admin_only = matches!(
        command,
        Command::StartProcessing | Command::Ship | Command::Deliver
    );
    if admin_only {
        orderflow_auth::require_admin(principal)?;
    }
    let expected = if_match(headers)?;
    let key = idempotency_key(headers)?;
    let (order, replay) = state
        .orders
        .transition_with_key(&actor(principal), id, &command, expected, key.as_deref())
        .await?;
    let response = order_response(StatusCode::OK, &order);
    Ok(if replay { replayed(response) } else { response })
}

pub fn cancel_reason(body: &[u8], principal: &Principal) -> Result<String, Problem> {
    let request: CancelRequest = if body.iter().all(u8::is_ascii_whitespace) {
        CancelRequest::default()
    } else {
        serde_json::from_slice(body).map_err(|e| {
            Problem::new(codes::INVALID_BODY).detail(format!("Invalid cancel body: {e}"))
        })?
    };
    let reason = request
        .reason
        .map(|r| r.trim().to_owned())
        .filter(|r| !r.is_empty());
    match reason {
        Some(r) if r.chars().count() > 500 => {
            Err(Problem::new(codes::VALIDATION_FAILED)
                .detail("reason must be at most 500 characters."))
        }
        Some(r) => Ok(r),
        None if principal.is_admin() => Ok("Cancelled by an administrator".to_owned()),
        None => Ok("Cancelled by the customer".to_owned()),
    }
}
