//! Failures every service meets the same way: those beneath a use case that are not the
//! client's doing ([`Infrastructure`]), an internal failure (logged here once, never shown to
//! the client) and a path the API does not have.

use orderflow_inbox::HandlerError;
use orderflow_runtime::Problem;
use orderflow_runtime::problem::codes;

use crate::outage;

/// What failed beneath a use case: the database, the outbox or the event contract. Each
/// service's error enum has one variant holding this, made by `?` from any of the three
/// (see [`infrastructure_error!`](crate::infrastructure_error)).
#[derive(Debug, thiserror::Error)]
pub enum Infrastructure {
    /// The database failed.
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    /// The outbox failed.
    #[error("outbox error: {0}")]
    Outbox(#[from] orderflow_outbox::Error),
    /// An event could not be built (a bug).
    #[error("event contract error: {0}")]
    Contract(#[from] orderflow_events::Error),
}

impl From<Infrastructure> for Problem {
    /// `503 database_unavailable` while PostgreSQL is away (logged as one outage), otherwise
    /// `500` with the cause logged.
    fn from(error: Infrastructure) -> Self {
        match error {
            Infrastructure::Database(e) => outage::problem(&e, "database"),
            Infrastructure::Outbox(orderflow_outbox::Error::Database(e)) => {
                outage::problem(&e, "outbox")
            }
            Infrastructure::Outbox(e) => internal("outbox", &e),
            Infrastructure::Contract(e) => internal("event contract", &e),
        }
    }
}

impl From<Infrastructure> for HandlerError {
    /// A database failure is worth retrying (the event is redelivered); anything else will
    /// fail again the same way.
    fn from(error: Infrastructure) -> Self {
        match error {
            Infrastructure::Database(e)
            | Infrastructure::Outbox(orderflow_outbox::Error::Database(e)) => {
                HandlerError::Transient(e)
            }
            other => HandlerError::Permanent(other.to_string()),
        }
    }
}

/// `From` the three failures of [`Infrastructure`] for a service's error enum `$error`, whose
/// `Infrastructure` variant holds it, so use cases can `?` a sqlx, outbox or contract error.
#[macro_export]
macro_rules! infrastructure_error {
    ($error:ty) => {
        impl From<sqlx::Error> for $error {
            fn from(e: sqlx::Error) -> Self {
                Self::Infrastructure(e.into())
            }
        }
        impl From<orderflow_outbox::Error> for $error {
            fn from(e: orderflow_outbox::Error) -> Self {
                Self::Infrastructure(e.into())
            }
        }
        impl From<orderflow_events::Error> for $error {
            fn from(e: orderflow_events::Error) -> Self {
                Self::Infrastructure(e.into())
            }
        }
    };
}

/// 500 for a failure of `what` that is not the client's doing; the cause is logged, not sent.
pub fn internal(what: &str, error: &dyn std::fmt::Display) -> Problem {
    tracing::error!(%error, "{what} failure while handling a request");
    Problem::internal()
}

/// 404 for any path the API does not have, as a problem document too.
pub async fn not_found_route() -> Problem {
    Problem::new(codes::ROUTE_NOT_FOUND).detail("No such resource.")
}
