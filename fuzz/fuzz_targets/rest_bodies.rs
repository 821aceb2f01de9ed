//! `rest_bodies`: what the orders and inventory handlers parse and validate before they touch
//! the database — each JSON request body through the services' own `ApiJson` extractor (over
//! axum's `Json`), then the handler's validation; the list endpoints' query strings through
//! `ApiQuery` and the cursor decoders; the order paths' id and the `If-Match` and
//! `Idempotency-Key` headers.
//!
//! Input: `orderflow_fuzz::rest::BodyInput`. Checked besides "no panic": the extractor accepts
//! exactly what `serde_json` accepts for that type, and refuses with 400 (415 for a non-JSON
//! content type); validation refuses with 422 `validation_failed`, and what it accepts is
//! within the documented limits and normalised (skus upper-cased and unique, names trimmed,
//! prices that print and parse back to themselves); cursors and ETags decode only to values that
//! encode back to the same text.
//!
//! The inventory handlers validate inline; this target calls the same helpers (`text`, `units`,
//! `price`, `Sku::parse`) in the same order as `create_product`, `update_product` and
//! `adjust_stock` do.

#![no_main]

use axum::body::Body;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::{HeaderMap, HeaderValue, header};
use libfuzzer_sys::fuzz_target;
use orderflow_auth::{ADMIN_ROLE, Principal};
use orderflow_fuzz::now_or_never;
use orderflow_fuzz::rest::{BodyInput, CONTENT_TYPES, Endpoint};
use orderflow_inventory::api::fuzzing as inventory;
use orderflow_inventory::api::{
    CreateProductRequest, StockAdjustmentRequest, UpdateProductRequest,
};
use orderflow_inventory::domain::{DEFAULT_THRESHOLD, MAX_UNITS, Money};
use orderflow_orders::api::fuzzing as orders;
use orderflow_orders::domain::Quantity;
use orderflow_runtime::Problem;
use serde::de::DeserializeOwned;
use time::OffsetDateTime;

/// Longest order (`MAX_LINES` in the orders handlers; "1 to 100 lines" in the README).
const MAX_LINES: usize = 100;
/// Longest product name and adjustment reason, in characters (`MAX_TEXT` in the handlers).
const MAX_TEXT: usize = 200;
/// Longest cancel reason, in characters.
const MAX_REASON: usize = 500;

fuzz_target!(init: orderflow_fuzz::check_layouts(), |input: BodyInput<'_>| {
    let content_type = CONTENT_TYPES[input.content_type];
    let principal = Principal {
        user_id: uuid::Uuid::from_u128(0x0193_0000_0000_7000_8000_0000_0000_a11c),
        name: "Fuzz".to_owned(),
        roles: if input.admin {
            vec![ADMIN_ROLE.to_owned()]
        } else {
            Vec::new()
        },
        expires_at: OffsetDateTime::UNIX_EPOCH,
    };
    match input.endpoint {
        Endpoint::CreateOrder => {
            let Some(body) =
                json_body::<orders::CreateOrderRequest, _>(input.body, content_type, |req| {
                    now_or_never(orders::ApiJson::from_request(req, &())).map(|j| j.0)
                })
            else {
                return;
            };
            check_create_order(&body);
        }
        Endpoint::CancelOrder => check_cancel(input.body, &principal),
        Endpoint::ListOrders => {
            let Some(query) = query_string(input.body) else {
                return;
            };
            let parts = request_parts(&format!("/api/orders?{query}"));
            if let Some(mut parts) = parts {
                let result = now_or_never(
                    orders::ApiQuery::<orders::ListParams>::from_request_parts(&mut parts, &()),
                );
                if let Err(problem) = result {
                    check_problem(&problem, 400, &["invalid_query"]);
                }
            }
            // Every value as a cursor and a status, as `list_orders` reads them.
            for (_, value) in form_urlencoded_pairs(query) {
                check_order_cursor(&value);
                if let Some(status) = orderflow_orders::domain::OrderStatus::parse(&value) {
                    assert!(status.as_str().eq_ignore_ascii_case(&value));
                }
            }
        }
        Endpoint::OrderHeaders => check_order_headers(input.body),
        Endpoint::CreateProduct => {
            let Some(body) = inventory_body::<CreateProductRequest>(input.body, content_type) else {
                return;
            };
            // `create_product`: sku, name, price, initial stock, threshold, in that order.
            check_validation(|| {
                let sku = orderflow_inventory::domain::Sku::parse(&body.sku)
                    .map_err(|e| inventory_invalid(format!("sku: {e}")))?;
                check_sku(sku.as_str(), &body.sku);
                check_text(&inventory::text("name", &body.name)?, &body.name);
                check_price(inventory::price(&body.unit_price)?);
                check_units(inventory::units(
                    "initialStock",
                    body.initial_stock.unwrap_or(0),
                )?);
                check_units(inventory::units(
                    "lowStockThreshold",
                    body.low_stock_threshold.unwrap_or(DEFAULT_THRESHOLD),
                )?);
                Ok(())
            });
        }
        Endpoint::UpdateProduct => {
            let Some(body) = inventory_body::<UpdateProductRequest>(input.body, content_type) else {
                return;
            };
            // `update_product`: name, price, threshold, each only when present.
            check_validation(|| {
                if let Some(name) = &body.name {
                    check_text(&inventory::text("name", name)?, name);
                }
                if let Some(price) = &body.unit_price {
                    check_price(inventory::price(price)?);
                }
                if let Some(threshold) = body.low_stock_threshold {
                    check_units(inventory::units("lowStockThreshold", threshold)?);
                }
                Ok(())
            });
        }
        Endpoint::AdjustStock => {
            let Some(body) = inventory_body::<StockAdjustmentRequest>(input.body, content_type) else {
                return;
            };
            // `adjust_stock`: the delta check as the handler writes it (no overflow at the
            // extremes), then the reason.
            let delta_ok = body.delta != 0 && body.delta.unsigned_abs() <= MAX_UNITS.unsigned_abs();
            assert_eq!(
                delta_ok,
                body.delta != 0 && (-MAX_UNITS..=MAX_UNITS).contains(&body.delta)
            );
            match inventory::text("reason", &body.reason) {
                Ok(reason) => check_text(&reason, &body.reason),
                Err(problem) => check_problem(&problem, 422, &["validation_failed"]),
            }
        }
        Endpoint::ListProducts => {
            let Some(query) = query_string(input.body) else {
                return;
            };
            if let Some(mut parts) = request_parts(&format!("/api/products?{query}")) {
                match now_or_never(
                    inventory::ApiQuery::<inventory::ListQuery>::from_request_parts(
                        &mut parts,
                        &(),
                    ),
                ) {
                    Ok(list) => {
                        if let Some(cursor) = &list.0.cursor {
                            check_product_sku(cursor);
                        }
                    }
                    Err(problem) => check_problem(&problem, 400, &["invalid_query"]),
                }
            }
            // The `{sku}` of product paths.
            check_product_sku(query);
        }
    }
});

/// Runs a handler's validation steps: a refusal must be a 422 `validation_failed`.
fn check_validation(validate: impl FnOnce() -> Result<(), Problem>) {
    if let Err(problem) = validate() {
        check_problem(&problem, 422, &["validation_failed"]);
    }
}

/// [`json_body`] through the inventory handlers' JSON extractor.
fn inventory_body<T: DeserializeOwned>(body: &[u8], content_type: Option<&str>) -> Option<T> {
    json_body(body, content_type, |req| {
        now_or_never(inventory::ApiJson::from_request(req, &())).map(|j| j.0)
    })
}

/// Runs the body through the extractor `extract` and checks it agrees with `serde_json`.
/// Returns the body when it was accepted.
fn json_body<T, E>(body: &[u8], content_type: Option<&str>, extract: E) -> Option<T>
where
    T: DeserializeOwned,
    E: FnOnce(Request) -> Result<T, Problem>,
{
    let mut request = Request::builder().method("POST").uri("/api");
    if let Some(content_type) = content_type {
        request = request.header(header::CONTENT_TYPE, content_type);
    }
    let request = request
        .body(Body::from(body.to_vec()))
        .expect("a valid request");
    let json_type = content_type.is_some_and(|t| t.contains("json"));
    match extract(request) {
        Ok(value) => {
            assert!(json_type, "accepted a body sent as {content_type:?}");
            assert!(serde_json::from_slice::<T>(body).is_ok());
            Some(value)
        }
        Err(problem) => {
            if json_type {
                assert!(
                    serde_json::from_slice::<T>(body).is_err(),
                    "refused valid JSON"
                );
                check_problem(&problem, 400, &["malformed_json", "invalid_body"]);
            } else {
                check_problem(&problem, 415, &["unsupported_media_type"]);
            }
            None
        }
    }
}

fn check_problem(problem: &Problem, status: u16, codes: &[&str]) {
    assert_eq!(problem.status, status, "{problem:?}");
    assert!(
        codes.is_empty() || codes.contains(&problem.code.as_str()),
        "{problem:?}"
    );
    // It renders as a problem document.
    let document = serde_json::to_value(problem).expect("a problem serializes");
    assert_eq!(document["status"], status);
}

fn inventory_invalid(detail: String) -> Problem {
    Problem::new(orderflow_runtime::problem::codes::VALIDATION_FAILED).detail(detail)
}

fn check_create_order(body: &orders::CreateOrderRequest) {
    match orders::validate_lines(body) {
        Ok(lines) => {
            assert!((1..=MAX_LINES).contains(&lines.len()));
            assert_eq!(lines.len(), body.lines.len());
            for (i, (line, raw)) in lines.iter().zip(&body.lines).enumerate() {
                check_sku(&line.sku.to_string(), &raw.sku);
                assert!((1..=Quantity::MAX).contains(&line.quantity.get()));
                assert_eq!(i64::from(line.quantity.get()), raw.quantity);
                assert!(
                    lines[..i].iter().all(|l| l.sku != line.sku),
                    "duplicate sku"
                );
            }
        }
        Err(problem) => check_problem(&problem, 422, &["validation_failed"]),
    }
}

fn check_cancel(body: &[u8], principal: &Principal) {
    match orders::cancel_reason(body, principal) {
        Ok(reason) => {
            assert!(!reason.is_empty());
            assert_eq!(reason.trim(), reason);
            assert!(reason.chars().count() <= MAX_REASON);
        }
        Err(problem) if problem.code == "invalid_body" => check_problem(&problem, 400, &[]),
        Err(problem) => check_problem(&problem, 422, &["validation_failed"]),
    }
}

fn check_order_headers(value: &[u8]) {
    if let Ok(text) = std::str::from_utf8(value) {
        // An order id from the path.
        match orders::order_id(text) {
            Ok(id) => assert_eq!(uuid::Uuid::parse_str(&id.0.to_string()).ok(), Some(id.0)),
            Err(problem) => check_problem(&problem, 400, &["invalid_order_id"]),
        }
        check_order_cursor(text);
    }
    let Ok(value) = HeaderValue::from_bytes(value) else {
        return;
    };
    let mut headers = HeaderMap::new();
    headers.insert(header::IF_MATCH, value.clone());
    headers.insert("idempotency-key", value.clone());
    match orders::if_match(&headers) {
        // The ETag of that version is what was sent (give or take surrounding spaces).
        Ok(Some(version)) => {
            let sent = value.to_str().expect("text").trim();
            assert_eq!(sent.trim_matches('"').parse::<u64>().ok(), Some(version));
        }
        Ok(None) => assert_eq!(value.to_str().map(str::trim).ok(), Some("*")),
        Err(problem) => check_problem(&problem, 400, &["invalid_if_match"]),
    }
    match orders::idempotency_key(&headers) {
        Ok(Some(key)) => {
            assert_eq!(key.as_bytes(), value.as_bytes());
            assert!((1..=255).contains(&key.len()));
            assert!(key.bytes().all(|b| b.is_ascii_graphic()));
        }
        Ok(None) => unreachable!("the header is present"),
        Err(problem) => check_problem(&problem, 400, &["invalid_idempotency_key"]),
    }
}

/// A cursor decodes only to a position whose encoding decodes to it again.
fn check_order_cursor(raw: &str) {
    match orders::decode_cursor(raw) {
        Ok(cursor) => {
            let encoded = orders::encode_cursor(cursor);
            assert_eq!(orders::decode_cursor(&encoded).ok(), Some(cursor));
        }
        Err(problem) => check_problem(&problem, 400, &["invalid_cursor"]),
    }
}

/// A product sku from a path or a cursor.
fn check_product_sku(raw: &str) {
    match inventory::path_sku(raw) {
        Ok(sku) => check_sku(sku.as_str(), raw),
        Err(problem) => check_problem(&problem, 400, &["invalid_sku"]),
    }
    match inventory::decode_cursor(raw) {
        Ok(sku) => check_sku(sku.as_str(), raw),
        Err(problem) => check_problem(&problem, 400, &["invalid_cursor"]),
    }
}

/// An accepted sku is the trimmed input upper-cased: 1–64 of A–Z, 0–9 and `-`.
fn check_sku(sku: &str, raw: &str) {
    assert_eq!(sku, raw.trim().to_ascii_uppercase());
    assert!((1..=64).contains(&sku.len()));
    assert!(
        sku.bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'-')
    );
}

fn check_text(value: &str, raw: &str) {
    assert_eq!(value, raw.trim());
    assert!((1..=MAX_TEXT).contains(&value.chars().count()));
}

/// A price is non-negative and prints as a decimal that parses back to it.
fn check_price(price: Money) {
    assert!(price.0 >= 0);
    let printed = price.to_decimal_string();
    assert_eq!(Money::parse(&printed).ok(), Some(price));
}

fn check_units(units: i64) {
    assert!((0..=MAX_UNITS).contains(&units));
}

/// The query string: any text (one the request target cannot carry is skipped later).
fn query_string(raw: &[u8]) -> Option<&str> {
    std::str::from_utf8(raw).ok()
}

fn request_parts(uri: &str) -> Option<axum::http::request::Parts> {
    let request = Request::builder().uri(uri).body(()).ok()?;
    Some(request.into_parts().0)
}

/// `name=value` pairs of a query string, percent-decoded as axum's `Query` does.
fn form_urlencoded_pairs(query: &str) -> Vec<(String, String)> {
    form_urlencoded::parse(query.as_bytes())
        .map(|(name, value)| (name.into_owned(), value.into_owned()))
        .collect()
}
