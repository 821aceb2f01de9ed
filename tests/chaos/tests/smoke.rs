//! The chaos suite's smoke run in the default test run (about a minute): one round each of
//! `nats-restart`, `orders-kill` (retries with the same `Idempotency-Key`, none answered 409)
//! and `gateway-partition`, with the debug binaries. Every round also checks the acknowledged
//! changes against the databases and the stream, and the stock against the reservations.
//!
//! This test only launches the package's own `chaos` binary (`CARGO_BIN_EXE_chaos`). The
//! services must run as real processes so that `kill -9` is real, and cargo gives a test no
//! path to another package's binaries; `chaos` therefore finds `orders`, `inventory` and
//! `gateway` next to itself in `target/<profile>/`, where `cargo test --workspace` has just built
//! them, and builds them with `cargo build -p ...` if they are missing (see
//! `src/binaries.rs`). The full suite is `cargo xtask chaos` (release build, minutes).

use std::process::Command;
use std::time::{Duration, Instant};

/// The run takes about a minute on the 2-core dev machine; allow for a slow, busy one.
const LIMIT: Duration = Duration::from_secs(300);

#[test]
fn nats_restart_orders_kill_and_gateway_partition_lose_nothing() {
    let started = Instant::now();
    let mut child = Command::new(env!("CARGO_BIN_EXE_chaos"))
        .args([
            "--scenario",
            "nats-restart,orders-kill,gateway-partition",
            "--rounds",
            "1",
        ])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("starting the chaos binary");
    let stdout = child.stdout.take().unwrap();
    // Read on a thread, so the wait below can be bounded.
    let reader = std::thread::spawn(move || std::io::read_to_string(stdout).unwrap_or_default());
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if started.elapsed() > LIMIT {
            // The suite's own waits are bounded; this only catches a hang.
            let _ = child.kill();
            let _ = child.wait();
            panic!("the chaos smoke run did not finish within {LIMIT:?}");
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    let table = reader.join().unwrap();
    println!("{table}");
    println!("smoke run took {:.0} s", started.elapsed().as_secs_f64());
    assert!(status.success(), "chaos rounds failed:\n{table}");
    assert!(table.contains("all 3 rounds passed"), "{table}");
}
