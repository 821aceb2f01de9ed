//! Maps use-case errors to RFC 9457 problems with stable codes. Internal causes are logged
//! once here and never returned to the client; an unreachable database is a 503 with
//! `Retry-After`, logged as one summarised outage (`orderflow_runtime::database`).

use axum::http::StatusCode;
use orderflow_runtime::{Problem, database};

use crate::domain::TransitionError;
use crate::service::OrderError;

impl From<OrderError> for Problem {
    fn from(error: OrderError) -> Self {
        match error {
            OrderError::NotFound => Problem::not_found("order_not_found", "No such order."),
            OrderError::Transition(TransitionError::InvalidTransition { current, command }) => {
                Problem::new(StatusCode::CONFLICT, "invalid_transition")
                    .detail(format!(
                        "Cannot {command} an order that is {}.",
                        current.as_str()
                    ))
                    .with("currentStatus", current.as_str())
                    .with("command", command)
            }
            OrderError::Transition(TransitionError::EmptyOrder) => {
                Problem::new(StatusCode::CONFLICT, "empty_order")
                    .detail("Cannot confirm an order without lines.")
            }
            OrderError::VersionMismatch { expected, current } => {
                Problem::new(StatusCode::PRECONDITION_FAILED, "version_mismatch")
                    .detail(format!(
                        "If-Match named version {expected}, but the order is at version {current}."
                    ))
                    .with("currentVersion", current)
            }
            OrderError::UnknownSkus(skus) => {
                Problem::new(StatusCode::UNPROCESSABLE_ENTITY, "unknown_sku")
                    .detail(format!("Unknown sku: {}.", skus.join(", ")))
                    .with("skus", skus)
            }
            OrderError::MixedCurrencies(currencies) => {
                Problem::new(StatusCode::UNPROCESSABLE_ENTITY, "mixed_currencies").detail(format!(
                    "Products are priced in different currencies: {}.",
                    currencies.join(", ")
                ))
            }
            OrderError::IdempotencyKeyReused => {
                Problem::new(StatusCode::UNPROCESSABLE_ENTITY, "idempotency_key_reused")
                    .detail("This Idempotency-Key was already used with a different request body.")
            }
            OrderError::Database(e) => database::problem(&e, "database"),
            OrderError::Outbox(orderflow_outbox::Error::Database(e)) => {
                database::problem(&e, "outbox")
            }
            OrderError::Outbox(e) => internal("outbox", &e),
            OrderError::Contract(e) => internal("event contract", &e),
        }
    }
}

fn internal(what: &str, error: &dyn std::fmt::Display) -> Problem {
    tracing::error!(%error, "{what} failure while handling a request");
    Problem::internal()
}

/// 404 for any path the API does not have, as a problem document too.
pub async fn not_found_route() -> Problem {
    Problem::not_found("route_not_found", "No such resource.")
}
