//! Request parsing at the edge: JSON bodies, path ids, conditional and idempotency headers,
//! and page cursors. Every failure is a problem document, never axum's plain-text rejection.

use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequest, Request};
use axum::http::{HeaderMap, StatusCode, header};
use orderflow_runtime::Problem;
use serde::de::DeserializeOwned;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::domain::OrderId;
use crate::store::PageCursor;

/// `Json<T>` whose rejections are problems: 415 for a wrong content type, 400 otherwise.
pub struct ApiJson<T>(pub T);

impl<S, T> FromRequest<S> for ApiJson<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = Problem;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(value)) => Ok(Self(value)),
            Err(JsonRejection::MissingJsonContentType(_)) => Err(Problem::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
            )
            .detail("Send the body as application/json.")),
            Err(JsonRejection::JsonSyntaxError(e)) => Err(Problem::bad_request(
                "malformed_json",
                format!("The body is not valid JSON: {}", e.body_text()),
            )),
            Err(e) => Err(Problem::bad_request("invalid_body", e.body_text())),
        }
    }
}

/// Parses an order id from the path.
pub fn order_id(raw: &str) -> Result<OrderId, Problem> {
    Uuid::parse_str(raw)
        .map(OrderId)
        .map_err(|_| Problem::bad_request("invalid_order_id", "The order id must be a UUID."))
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
            Problem::bad_request(
                "invalid_if_match",
                "If-Match must be an ETag from this API, e.g. \"3\", or *.",
            )
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
        _ => Err(Problem::bad_request(
            "invalid_idempotency_key",
            "Idempotency-Key must be 1-255 visible ASCII characters.",
        )),
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
        || Problem::bad_request("invalid_cursor", "The cursor is not one this API issued.");
    let (nanos, id) = raw.split_once('_').ok_or_else(invalid)?;
    let nanos: i128 = nanos.parse().map_err(|_| invalid())?;
    Ok(PageCursor {
        created_at: OffsetDateTime::from_unix_timestamp_nanos(nanos).map_err(|_| invalid())?,
        id: Uuid::parse_str(id).map_err(|_| invalid())?,
    })
}

/// `Query<T>` whose rejection is a 400 problem.
pub struct ApiQuery<T>(pub T);

impl<S, T> axum::extract::FromRequestParts<S> for ApiQuery<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = Problem;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &S,
    ) -> Result<Self, Self::Rejection> {
        axum::extract::Query::<T>::from_request_parts(parts, state)
            .await
            .map(|q| Self(q.0))
            .map_err(|e| Problem::bad_request("invalid_query", e.body_text()))
    }
}
