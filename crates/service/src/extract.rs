//! Extractors whose rejections are problem documents, never axum's plain-text ones.

use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequest, FromRequestParts, Query, Request};
use axum::http::request::Parts;
use orderflow_runtime::Problem;
use orderflow_runtime::problem::codes;
use serde::de::DeserializeOwned;

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
            Err(JsonRejection::MissingJsonContentType(_)) => {
                Err(Problem::new(codes::UNSUPPORTED_MEDIA_TYPE)
                    .detail("Send the body as application/json."))
            }
            Err(JsonRejection::JsonSyntaxError(e)) => Err(Problem::new(codes::MALFORMED_JSON)
                .detail(format!("The body is not valid JSON: {}", e.body_text()))),
            Err(e) => Err(Problem::new(codes::INVALID_BODY).detail(e.body_text())),
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
        Query::<T>::from_request_parts(parts, state)
            .await
            .map(|q| Self(q.0))
            .map_err(|e| Problem::new(codes::INVALID_QUERY).detail(e.body_text()))
    }
}
