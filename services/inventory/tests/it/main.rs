//! The inventory service's integration tests, in one binary so that it links once.
//! Run one group with `cargo test -p orderflow-inventory --test it <module>::`.

mod api;
mod api_errors;
mod batch;
mod consumer;
mod degraded;
mod end_to_end;
mod faults;
mod property;
mod redelivery;
mod relay_wake;
mod seed_demo;
mod support;
