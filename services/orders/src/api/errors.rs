//! Maps use-case errors to RFC 9457 problems with codes from the one table
//! (`orderflow_runtime::problem::codes`). Internal causes are logged once and never returned to
//! the client; an unreachable database is a 503 with `Retry-After`, logged as one summarised
//! outage (`orderflow_service::outage`).

use orderflow_runtime::Problem;
use orderflow_runtime::problem::codes;

use crate::domain::TransitionError;
use crate::service::OrderError;

impl From<OrderError> for Problem {
    fn from(error: OrderError) -> Self {
        match error {
            OrderError::NotFound => Problem::new(codes::ORDER_NOT_FOUND).detail("No such order."),
            OrderError::Transition(TransitionError::InvalidTransition { current, command }) => {
                Problem::new(codes::INVALID_TRANSITION)
                    .detail(format!(
                        "Cannot {command} an order that is {}.",
                        current.as_str()
                    ))
                    .with("currentStatus", current.as_str())
                    .with("command", command)
            }
            OrderError::Transition(TransitionError::EmptyOrder) => {
                Problem::new(codes::EMPTY_ORDER).detail("Cannot confirm an order without lines.")
            }
            OrderError::VersionMismatch { expected, current } => {
                Problem::new(codes::VERSION_MISMATCH)
                    .detail(format!(
                        "If-Match named version {expected}, but the order is at version {current}."
                    ))
                    .with("currentVersion", current)
            }
            OrderError::UnknownSkus(skus) => Problem::new(codes::UNKNOWN_SKU)
                .detail(format!("Unknown sku: {}.", skus.join(", ")))
                .with("skus", skus),
            OrderError::MixedCurrencies(currencies) => Problem::new(codes::MIXED_CURRENCIES)
                .detail(format!(
                    "Products are priced in different currencies: {}.",
                    currencies.join(", ")
                )),
            OrderError::IdempotencyKeyReused => Problem::new(codes::IDEMPOTENCY_KEY_REUSED)
                .detail("This Idempotency-Key was already used with a different request body."),
            OrderError::Infrastructure(e) => e.into(),
        }
    }
}
