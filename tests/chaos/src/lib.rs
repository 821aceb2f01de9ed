//! The chaos suite: the whole platform as real processes on loopback (nats-server, PostgreSQL,
//! `orders`, `inventory`, gateways A and B), official SignalR clients counting every stream
//! position they should get, and faults injected under load: `kill -9` of nats-server, a
//! PostgreSQL stop, `kill -9` and SIGTERM of orders, inventory and a gateway, and a partition
//! of a gateway's NATS link. Every round ends with a verdict per client against the `ORDERS`
//! stream (lost, duplicated, out of order), of the driver's acknowledged changes against the
//! databases and the stream, of the stock against the reservations, and of what the fault cost
//! the HTTP clients.
//!
//! Run it with `cargo xtask chaos [--scenario ...] [--rounds N]` (release build, minutes);
//! `tests/smoke.rs` runs a short subset in the default test run.
//!
//! Modules, in the order a round uses them: [`binaries`] (where the service executables are),
//! [`process`] (a killable service process), [`system`] (everything started and seeded),
//! [`clients`] (the Node clients and their reports), [`driver`] (the HTTP load),
//! [`readyz`] (watching readiness), [`scenario`] (the faults), [`stream`] (the truth from
//! JetStream), [`verify`] (the truth in the databases), [`round`] (one round end to end) and
//! [`report`] (verdicts and the table). [`hostile`] is the hostile-client test (slow and
//! flooding connections from another address), run by `tests/hostile_smoke.rs` and the
//! `hostile` binary.

pub mod binaries;
pub mod clients;
pub mod driver;
pub mod hostile;
pub mod process;
pub mod readyz;
pub mod report;
pub mod round;
pub mod scenario;
pub mod stream;
pub mod system;
pub mod verify;

use std::sync::OnceLock;
use std::time::Instant;

/// Seconds since the suite started, for progress lines (`12.3s`).
pub fn clock() -> String {
    static START: OnceLock<Instant> = OnceLock::new();
    format!(
        "{:6.1}s",
        START.get_or_init(Instant::now).elapsed().as_secs_f64()
    )
}
