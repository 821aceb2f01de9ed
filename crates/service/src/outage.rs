//! PostgreSQL being unreachable, told apart from every other database error. A request that
//! fails because the database is down, restarting, or has no connection free in time was not
//! applied (or, if the connection broke after its write was sent, its outcome is unknown), and
//! the same request will work later: it is answered `503 database_unavailable` with
//! `Retry-After`, not `500`, so clients and load balancers can tell "retry later" from a bug.
//! Such failures come in storms (every request fails while PostgreSQL is away), so they
//! are logged through one process-wide [`Storm`] rather than one line each.

use std::time::Duration;

use orderflow_runtime::Problem;
use orderflow_runtime::storm::Storm;

/// How often an outage's log line repeats (with the count of failed requests).
const LOG_EVERY: Duration = Duration::from_secs(10);

/// The process's one database outage. A static because the failures surface wherever an error
/// becomes a problem document, far from any state, and a process has one log either way.
static OUTAGE: Storm = Storm::new("PostgreSQL unavailable, requests answered 503", LOG_EVERY);

/// Whether `error` means PostgreSQL could not be reached or refused to serve for now (as
/// opposed to a statement that failed), so that retrying the request later is right.
pub fn is_unavailable(error: &sqlx::Error) -> bool {
    match error {
        // No connection within the acquire timeout, the socket failed, or the pool is gone.
        sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::WorkerCrashed => true,
        sqlx::Error::Database(db) => db.code().is_some_and(|code| {
            // Class 08: connection exceptions. 57P01-57P03: the server is shutting down, crashed
            // or still starting up. 53300: no connection slot free.
            code.starts_with("08") || matches!(&*code, "57P01" | "57P02" | "57P03" | "53300")
        }),
        _ => false,
    }
}

/// The problem for a database error met while handling a request: `503 database_unavailable`
/// (counted, and logged as part of the outage) when PostgreSQL is unavailable, otherwise `500`
/// with the cause logged once. `what` names the failing part for that log line.
pub fn problem(error: &sqlx::Error, what: &str) -> Problem {
    if is_unavailable(error) {
        metrics::counter!("database_unavailable_responses_total").increment(1);
        OUTAGE.record(error);
        Problem::database_unavailable()
    } else {
        tracing::error!(%error, "{what} failure while handling a request");
        Problem::internal()
    }
}

/// PostgreSQL answered (the readiness probe calls this): ends the outage's log, with its
/// total, if requests were failing.
pub fn reachable() {
    OUTAGE.recovered();
}

#[cfg(test)]
mod tests {
    use std::io;

    use super::is_unavailable;

    #[test]
    fn connection_failures_are_unavailability_and_other_errors_are_not() {
        assert!(is_unavailable(&sqlx::Error::PoolTimedOut));
        assert!(is_unavailable(&sqlx::Error::Io(io::Error::from(
            io::ErrorKind::ConnectionRefused
        ))));
        assert!(!is_unavailable(&sqlx::Error::RowNotFound));
        assert!(!is_unavailable(&sqlx::Error::Protocol("bad".into())));
    }
}
