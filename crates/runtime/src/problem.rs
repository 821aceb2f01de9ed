//! RFC 9457 `application/problem+json` responses.
//!
//! Every error a service returns to a client goes through [`Problem`], so clients can rely on one
//! shape: `type`, `title`, `status`, `detail`, plus a stable machine-readable `code`. Internal
//! causes are logged by the caller and never put into a problem.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::{Map, Value};

/// Media type of a problem document.
pub const PROBLEM_JSON: &str = "application/problem+json";

/// An RFC 9457 problem document with a stable `code` extension member.
#[derive(Debug, Clone, Serialize)]
pub struct Problem {
    /// A URI reference naming the problem type; `about:blank`-style URNs keep it resolvable offline.
    #[serde(rename = "type")]
    pub type_uri: String,
    /// Short, human-readable summary of the problem type.
    pub title: String,
    /// The HTTP status code.
    pub status: u16,
    /// Human-readable explanation of this occurrence.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// Stable machine-readable code, e.g. `order_not_found`.
    pub code: String,
    /// Extra members (for example `currentStatus` or `sku`), flattened into the document.
    #[serde(flatten)]
    pub extensions: Map<String, Value>,
}

impl Problem {
    /// A problem with the given status and stable code; the title is the status's reason phrase.
    pub fn new(status: StatusCode, code: &str) -> Self {
        Self {
            type_uri: format!("urn:orderflow:problem:{code}"),
            title: status.canonical_reason().unwrap_or("Error").to_owned(),
            status: status.as_u16(),
            detail: None,
            code: code.to_owned(),
            extensions: Map::new(),
        }
    }

    /// Sets the human-readable detail.
    pub fn detail(mut self, detail: impl Into<String>) -> Self {
        self.detail = Some(detail.into());
        self
    }

    /// Sets the title (defaults to the reason phrase of the status).
    pub fn title(mut self, title: impl Into<String>) -> Self {
        self.title = title.into();
        self
    }

    /// Adds an extension member.
    pub fn with(mut self, key: &str, value: impl Into<Value>) -> Self {
        self.extensions.insert(key.to_owned(), value.into());
        self
    }

    /// 400 for a request that could not be parsed.
    pub fn bad_request(code: &str, detail: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code).detail(detail)
    }

    /// 401 for a missing or invalid credential.
    pub fn unauthorized(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "unauthorized").detail(detail)
    }

    /// 403 for an authenticated caller without the needed role.
    pub fn forbidden(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "forbidden").detail(detail)
    }

    /// 404 for a resource that does not exist or that the caller may not see.
    pub fn not_found(code: &str, detail: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, code).detail(detail)
    }

    /// 500 without any internal detail; the caller logs the cause.
    pub fn internal() -> Self {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "internal_error")
            .detail("An unexpected error occurred; it has been logged.")
    }

    /// 503 when a dependency is unavailable.
    pub fn unavailable(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::SERVICE_UNAVAILABLE, "service_unavailable").detail(detail)
    }

    /// The status as a [`StatusCode`].
    pub fn status_code(&self) -> StatusCode {
        StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let status = self.status_code();
        let mut response = (status, Json(self)).into_response();
        response
            .headers_mut()
            .insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
        response
    }
}
