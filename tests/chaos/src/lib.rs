//! The chaos suite: the whole platform as real processes on loopback (nats-server, PostgreSQL,
//! `orders`, `inventory`, gateways A and B), official SignalR clients counting every stream
//! position they should get, and faults injected under load: `kill -9` of nats-server, of
//! orders and of a gateway, and a partition of a gateway's NATS link. Every round ends with a
//! verdict per client against the `ORDERS` stream: lost, duplicated, out of order.
//!
//! Run it with `cargo xtask chaos [--scenario ...] [--rounds N]` (release build, minutes);
//! `tests/smoke.rs` runs a short subset in the default test run.
//!
//! Modules, in the order a round uses them: [`binaries`] (where the service executables are),
//! [`process`] (a killable service process), [`system`] (everything started and seeded),
//! [`clients`] (the Node clients and their reports), [`driver`] (the HTTP load),
//! [`scenario`] (the faults), [`stream`] (the truth from JetStream), [`round`] (one round
//! end to end) and [`report`] (verdicts and the table).

pub mod binaries;
pub mod clients;
pub mod driver;
pub mod process;
pub mod report;
pub mod round;
pub mod scenario;
pub mod stream;
pub mod system;

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
