//! Request parsing at the edge: path ids, conditional and idempotency headers, and page cursors.
//! Every failure is a problem document, never axum's plain-text rejection. (JSON bodies and
//! query strings: `orderflow_service::extract`.)

use axum::http::{HeaderMap, header};
use orderflow_runtime::Problem;
use orderflow_runtime::problem::codes;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::domain::OrderId;
use crate::store::PageCursor;

/// Parses an order id from the path.
pub fn order_id(raw: &str) -> Result<OrderId, Problem> {
    Uuid::parse_str(raw)
        .map(OrderId)
        .map_err(|_| Problem::new(codes::INVALID_ORDER_ID).detail("The order id must be a UUID."))
}

/// The strong ETag of a version.
pub fn etag(version: u64) -> String {
    format!("\"{version}\"")
}

/// The version named by `If-Match`, `None` when absent or `*`.
pub fn if_match(headers: &HeaderMap) -> Result<Option<u64>, Problem> {
    let Some(value) = headers.get(header::IF_MATCH) else {
        return Ok(None);
    };
    let text = value.to_str().unwrap_or_default().trim();
    if text == "*" {
        return Ok(None);
    }
    text.strip_prefix('"')
        .and_then(|t| t.strip_suffix('"'))
        .and_then(|t| t.parse::<u64>().ok())
        .map(Some)
        .ok_or_else(|| {
            Problem::new(codes::INVALID_IF_MATCH)
                .detail("If-Match must be an ETag from this API, e.g. \"3\", or *.")
        })
}

/// The `Idempotency-Key` header: 1–255 visible ASCII characters.
pub fn idempotency_key(headers: &HeaderMap) -> Result<Option<String>, Problem> {
    let Some(value) = headers.get("idempotency-key") else {
        return Ok(None);
    };
    match value.to_str() {
        Ok(key)
            if !key.is_empty() && key.len() <= 255 && key.bytes().all(|b| b.is_ascii_graphic()) =>
        {
            Ok(Some(key.to_owned()))
        }
        _ => Err(Problem::new(codes::INVALID_IDEMPOTENCY_KEY)
            .detail("Idempotency-Key must be 1-255 visible ASCII characters.")),
    }
}

/// Encodes a page cursor as an opaque string: `<unix nanos>_<uuid>`.
pub fn encode_cursor(cursor: PageCursor) -> String {
    format!(
        "{}_{}",
        cursor.created_at.unix_timestamp_nanos(),
        cursor.id.simple()
    )
}

/// Decodes a cursor produced by [`encode_cursor`].
pub fn decode_cursor(raw: &str) -> Result<PageCursor, Problem> {
    let invalid =
        || Problem::new(codes::INVALID_CURSOR).detail("The cursor is not one this API issued.");
    let (nanos, id) = raw.split_once('_').ok_or_else(invalid)?;
    let nanos: i128 = nanos.parse().map_err(|_| invalid())?;
    Ok(PageCursor {
        created_at: OffsetDateTime::from_unix_timestamp_nanos(nanos).map_err(|_| invalid())?,
        id: Uuid::parse_str(id).map_err(|_| invalid())?,
    })
}
