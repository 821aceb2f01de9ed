//! The instruction count in small, as a CI check that the measurement works and that a
//! delivery has not become grossly more expensive: 200 deliveries to 10 customers through the
//! debug `gateway` under callgrind. A debug build runs several times the instructions of a
//! release build, so its budget is its own (the release budget is checked by
//! `cargo xtask bench instructions`); it is set half again above the measured figure: it
//! catches a delivery path that starts doing much more (a scan, a copy per connection), not a
//! few percent. Needs valgrind (Debian's `valgrind`; every CI machine of
//! this project has it).
//!
//! Which `gateway` binary: see `orderflow_loadgen::gateway::test_binary`.

use orderflow_loadgen::instructions::{self, InstructionsConfig};

/// The debug build measures 92,226 instructions per delivery (2026-12-08; the release build
/// 22,547: docs/benchmarks.md, "Instructions per delivery"); half as much again is allowed.
const DEBUG_BUDGET: f64 = 138_000.0;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_delivery_costs_the_instructions_it_did() {
    let report = instructions::run(&InstructionsConfig {
        events: 200,
        clients: 10,
        gateway_bin: orderflow_loadgen::gateway::test_binary(),
        keep_in: None,
    })
    .await
    .expect("the measurement runs");
    let per = report.per_delivery();
    println!(
        "debug gateway: {per:.0} instructions per delivery over {} deliveries",
        report.deliveries
    );
    assert!(per > 1_000.0, "implausibly few instructions: {per}");
    assert!(
        per <= DEBUG_BUDGET,
        "{per:.0} instructions per delivery, budget {DEBUG_BUDGET}"
    );
}
