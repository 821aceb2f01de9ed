//! Per-route request metrics of a REST API: `http_requests_total` and
//! `http_request_duration_seconds`, labelled by method, route template (`/api/orders/{id}`, never
//! the raw path, so the number of series stays bounded) and status class (`2xx` … `5xx`).

use std::time::Instant;

use axum::extract::{MatchedPath, Request};
use axum::middleware::Next;
use axum::response::Response;

/// Counter: requests answered, by `method`, `route` and `status` class.
pub const REQUESTS: &str = "http_requests_total";
/// Histogram (seconds): from the request reaching the router to its response head, by the same
/// labels.
pub const DURATION: &str = "http_request_duration_seconds";

/// Middleware recording both metrics for a request. Install with `Router::route_layer`, so it
/// runs after routing and sees the route template.
pub async fn record(route: Option<MatchedPath>, request: Request, next: Next) -> Response {
    let method = request.method().clone();
    let started = Instant::now();
    let response = next.run(request).await;
    let labels = [
        ("method", method.as_str().to_owned()),
        (
            "route",
            route.map_or_else(|| "unmatched".to_owned(), |r| r.as_str().to_owned()),
        ),
        (
            "status",
            status_class(response.status().as_u16()).to_owned(),
        ),
    ];
    metrics::counter!(REQUESTS, &labels).increment(1);
    metrics::histogram!(DURATION, &labels).record(started.elapsed().as_secs_f64());
    response
}

fn status_class(status: u16) -> &'static str {
    match status {
        100..=199 => "1xx",
        200..=299 => "2xx",
        300..=399 => "3xx",
        400..=499 => "4xx",
        _ => "5xx",
    }
}

#[cfg(test)]
mod tests {
    use axum::Router;
    use axum::body::Body;
    use axum::http::{Request, StatusCode};
    use axum::routing::get;
    use tower::ServiceExt as _;

    #[tokio::test]
    async fn requests_are_counted_by_route_template_and_status_class() {
        let handle = orderflow_runtime::metrics::install();
        let router = Router::new()
            .route("/api/things/{id}", get(|| async { StatusCode::NOT_FOUND }))
            .route_layer(axum::middleware::from_fn(super::record));
        for id in ["a", "b"] {
            let request = Request::get(format!("/api/things/{id}"))
                .body(Body::empty())
                .unwrap();
            router.clone().oneshot(request).await.unwrap();
        }
        let text = handle.render();
        assert!(
            text.contains(
                r#"http_requests_total{method="GET",route="/api/things/{id}",status="4xx"} 2"#
            ),
            "{text}"
        );
        assert!(
            text.contains(r#"http_request_duration_seconds_count{method="GET",route="/api/things/{id}",status="4xx"} 2"#),
            "{text}"
        );
    }
}
