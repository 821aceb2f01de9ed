//! Request parsing at the edge: JSON bodies, query strings and path skus. Every failure is a
//! problem document, never axum's plain-text rejection.

use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::StatusCode;
use axum::http::request::Parts;
use orderflow_runtime::Problem;
use serde::de::DeserializeOwned;

use crate::domain::Sku;

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

/// `Query<T>` whose rejection is a 400 problem.
pub struct ApiQuery<T>(pub T);

impl<S, T> FromRequestParts<S> for ApiQuery<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        axum::extract::Query::<T>::from_request_parts(parts, state)
            .await
            .map(|q| Self(q.0))
            .map_err(|e| Problem::bad_request("invalid_query", e.body_text()))
    }
}

/// Parses a sku from the path.
pub fn path_sku(raw: &str) -> Result<Sku, Problem> {
    Sku::parse(raw).map_err(|e| Problem::bad_request("invalid_sku", e.to_string()))
}

/// Decodes a page cursor: the sku of the last product of the previous page.
pub fn decode_cursor(raw: &str) -> Result<Sku, Problem> {
    Sku::parse(raw).map_err(|_| {
        Problem::bad_request("invalid_cursor", "The cursor is not one this API issued.")
    })
}
