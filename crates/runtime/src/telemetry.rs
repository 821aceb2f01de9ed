//! Structured logging set-up. `RUST_LOG` picks the filter; `ORDERFLOW_LOG_FORMAT=json` switches
//! to one JSON object per line for log shippers. Services never log tokens or secrets: request
//! tracing records the path only, never the query string.

use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt;

/// Installs the global tracing subscriber. Call once from `main`; a second call is a no-op.
pub fn init(default_filter: &str, json: bool) {
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default_filter));
    let builder = fmt().with_env_filter(filter).with_target(true);
    let result = if json {
        builder.json().flatten_event(true).try_init()
    } else {
        builder.compact().try_init()
    };
    // Already initialised (tests start several apps in one process): keep the first subscriber.
    drop(result);
}

/// A request span that records method and path but never the query string, which may carry an
/// `access_token`.
pub fn span_without_query<B>(request: &http::Request<B>) -> tracing::Span {
    tracing::info_span!("request", method = %request.method(), path = %request.uri().path())
}
