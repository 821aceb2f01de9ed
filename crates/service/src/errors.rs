//! Problems every service answers the same way: an internal failure (logged here once, never
//! shown to the client) and a path the API does not have.

use orderflow_runtime::Problem;
use orderflow_runtime::problem::codes;

/// 500 for a failure of `what` that is not the client's doing; the cause is logged, not sent.
pub fn internal(what: &str, error: &dyn std::fmt::Display) -> Problem {
    tracing::error!(%error, "{what} failure while handling a request");
    Problem::internal()
}

/// 404 for any path the API does not have, as a problem document too.
pub async fn not_found_route() -> Problem {
    Problem::new(codes::ROUTE_NOT_FOUND).detail("No such resource.")
}
