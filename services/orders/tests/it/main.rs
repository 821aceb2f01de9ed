//! The orders service's integration tests, in one binary so that it links once.
//! Run one group with `cargo test -p orderflow-orders --test it <module>::`.

mod aggregate_model;
mod api;
mod degraded;
mod events;
mod faults;
mod idempotency;
mod reactions;
mod relay;
mod support;
