//! RFC 9457 `application/problem+json` responses.
//!
//! Every error a service returns to a client goes through [`Problem`], so clients can rely on one
//! shape: `type`, `title`, `status`, `detail`, plus a stable machine-readable `code` from the one
//! table in [`codes`], which also fixes the status. Internal
//! causes are logged by the caller and never put into a problem. A problem that asks the client
//! to come back later (503) also carries a `Retry-After` header.

pub mod codes;

use std::time::Duration;

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::{Map, Value};

pub use codes::Code;

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
    /// Sent as the `Retry-After` header (whole seconds, at least 1), not in the document.
    #[serde(skip)]
    pub retry_after: Option<Duration>,
}

/// How long a client is asked to wait after `database_unavailable`: PostgreSQL restarts and
/// fail-overs take seconds, and a shorter hint only multiplies the load of retries on a
/// service that cannot serve them yet.
pub const DATABASE_RETRY_AFTER: Duration = Duration::from_secs(2);

impl Problem {
    /// A problem with a code of the table, and its status; the title is the status's reason
    /// phrase.
    pub fn new(code: Code) -> Self {
        Self {
            type_uri: format!("urn:orderflow:problem:{}", code.name),
            title: code.status.canonical_reason().unwrap_or("Error").to_owned(),
            status: code.status.as_u16(),
            detail: None,
            code: code.name.to_owned(),
            extensions: Map::new(),
            retry_after: None,
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

    /// 403 for an authenticated caller without the needed role.
    pub fn forbidden(detail: impl Into<String>) -> Self {
        Self::new(codes::FORBIDDEN).detail(detail)
    }

    /// 500 without any internal detail; the caller logs the cause.
    pub fn internal() -> Self {
        Self::new(codes::INTERNAL_ERROR).detail("An unexpected error occurred; it has been logged.")
    }

    /// Asks the client to wait `after` before retrying (the `Retry-After` header).
    pub fn retry_after(mut self, after: Duration) -> Self {
        self.retry_after = Some(after);
        self
    }

    /// 503 `database_unavailable`: PostgreSQL cannot be reached (or has no connection free in
    /// time). The request was not applied, unless the connection broke after the write was
    /// sent, when its outcome is unknown: either way the same request (with the same
    /// `Idempotency-Key`) is to be retried after `Retry-After`.
    pub fn database_unavailable() -> Self {
        Self::new(codes::DATABASE_UNAVAILABLE)
            .title("Database unavailable")
            .detail(
                "The database cannot be reached right now. Retry the same request (with the \
                 same Idempotency-Key, if it has one) after the seconds in Retry-After.",
            )
            .retry_after(DATABASE_RETRY_AFTER)
    }

    /// The status as a [`StatusCode`].
    pub fn status_code(&self) -> StatusCode {
        StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let status = self.status_code();
        let retry_after = self.retry_after.map(retry_after_seconds);
        let mut response = (status, Json(self)).into_response();
        let headers = response.headers_mut();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
        if let Some(seconds) = retry_after {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        response
    }
}

/// `Retry-After` counts whole seconds; round up, so a client never comes back early, and never
/// say 0, which some clients read as "retry at once, in a loop".
fn retry_after_seconds(after: Duration) -> u64 {
    let rounded_up = after.as_secs() + u64::from(after.subsec_nanos() > 0);
    rounded_up.max(1)
}

#[cfg(test)]
mod tests {

    use std::time::Duration;

    use axum::http::{StatusCode, header};
    use axum::response::IntoResponse;

    use super::{Problem, retry_after_seconds};

    #[test]
    fn retry_after_is_whole_seconds_rounded_up_and_never_zero() {
        assert_eq!(retry_after_seconds(Duration::from_secs(2)), 2);
        assert_eq!(retry_after_seconds(Duration::from_millis(1_200)), 2);
        assert_eq!(retry_after_seconds(Duration::from_millis(300)), 1);
        assert_eq!(retry_after_seconds(Duration::ZERO), 1);
    }

    #[tokio::test]
    async fn database_unavailable_is_a_503_problem_with_retry_after() {
        let response = Problem::database_unavailable().into_response();
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        let headers = response.headers();
        assert_eq!(headers[header::CONTENT_TYPE], "application/problem+json");
        assert_eq!(headers[header::RETRY_AFTER], "2");
        let body = axum::body::to_bytes(response.into_body(), 4096)
            .await
            .unwrap();
        let body: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(body["code"], "database_unavailable");
        assert_eq!(body["status"], 503);
        assert_eq!(body["type"], "urn:orderflow:problem:database_unavailable");
        assert!(body.get("retry_after").is_none() && body.get("retryAfter").is_none());
    }

    #[test]
    fn other_problems_have_no_retry_after() {
        let response = Problem::internal().into_response();
        assert!(response.headers().get(header::RETRY_AFTER).is_none());
    }
}
