//! One round of one scenario on a fresh system: start everything, connect the clients, warm
//! up under load, inject and heal the fault, keep the load on a little longer, stop it, wait
//! until the outbox is empty and the clients caught up, and judge every client against the
//! `ORDERS` stream.

use std::path::Path;
use std::time::{Duration, Instant};

use uuid::Uuid;

use crate::binaries::Binaries;
use crate::clients::{ClientSpec, Clients, ResumeMode};
use crate::driver::Driver;
use crate::report::{Outcome, RoundResult};
use crate::scenario::{Scenario, step};
use crate::stream;
use crate::system::{System, token};

/// Customers with a client each: half behind gateway A, half behind B, and of each half, half
/// negotiating on the other gateway.
pub const CUSTOMERS: usize = 40;
/// Admin clients in the dashboard (one behind each gateway).
pub const ADMINS: usize = 2;
/// Load before the fault.
const WARM_UP: Duration = Duration::from_secs(3);
/// Load after the fault is healed.
const AFTER: Duration = Duration::from_secs(3);
/// Bounds of the waits at the end.
const DRAIN_WITHIN: Duration = Duration::from_secs(60);
const CATCH_UP_WITHIN: Duration = Duration::from_secs(60);
/// Duplicates that are late would arrive within this after catching up.
const SETTLE: Duration = Duration::from_millis(500);

/// Runs one round; logs go to `logs`.
pub async fn run(
    scenario: Scenario,
    round: usize,
    bins: &Binaries,
    mode: ResumeMode,
    logs: &Path,
) -> anyhow::Result<RoundResult> {
    let started = Instant::now();
    std::fs::create_dir_all(logs)?;
    step(&format!("{scenario} round {round}: starting the system"));
    let mut system = System::start(bins, logs).await?;
    system.seed().await?;
    system.drain_outbox(DRAIN_WITHIN).await?;
    let start = system.orders_last_sequence().await?;

    let customers: Vec<Uuid> = (0..CUSTOMERS).map(|_| Uuid::new_v4()).collect();
    let admins: Vec<String> = (0..ADMINS).map(|n| format!("admin-{n}")).collect();
    let position = format!("ORDERS:{start}");
    let mut specs: Vec<ClientSpec> = customers
        .iter()
        .enumerate()
        .map(|(i, c)| ClientSpec {
            id: c.to_string(),
            token: token(*c, false),
            admin: false,
            gateway: i % 2,
            cross: (i / 2) % 2 == 1,
            start: position.clone(),
        })
        .collect();
    specs.extend(admins.iter().enumerate().map(|(i, id)| ClientSpec {
        id: id.clone(),
        token: token(Uuid::new_v4(), true),
        admin: true,
        gateway: i % 2,
        cross: i % 2 == 1,
        start: position.clone(),
    }));
    let clients = Clients::start(
        &system.gateway_urls(),
        mode,
        &specs,
        &logs.join("clients.log"),
    )
    .await?;
    let ids: Vec<String> = specs.iter().map(|s| s.id.clone()).collect();
    clients.wait_ready(&ids, Duration::from_secs(30)).await?;

    step("load on");
    let driver = Driver::start(system.orders.url(), &customers);
    tokio::time::sleep(WARM_UP).await;
    scenario.inject(&mut system).await?;
    tokio::time::sleep(AFTER).await;
    let stats = driver.stop().await;
    let driver_stopped = Instant::now();
    step("load off; draining the outbox");

    system.drain_outbox(DRAIN_WITHIN).await?;
    let stored = stream::read_orders(&system.js, start).await?;
    let expected = stream::expected(&stored, &admins);
    let anomalies = stream::anomalies(&stored);
    step(&format!(
        "{} events in ORDERS; waiting for the clients",
        stored.len()
    ));
    let committed = stream::committed(&stored);
    let catch_up = clients
        .wait_caught_up(&expected, &committed, CATCH_UP_WITHIN)
        .await;
    tokio::time::sleep(SETTLE).await;
    let (ledger, unreadable) = clients.stop().await;

    let outcome = Outcome::judge(&ledger, &ids, &expected);
    let mut notes = outcome.notes.clone();
    for (order, versions) in anomalies.iter().take(3) {
        notes.push(format!("stream: order {order} has versions {versions:?}"));
    }
    if unreadable > 0 {
        notes.push(format!("{unreadable} unreadable client lines"));
    }
    let failure = stats.last_failure.lock().await.clone();
    Ok(RoundResult {
        scenario,
        round,
        events: stored.len(),
        outcome,
        stream_anomalies: anomalies.len(),
        caught_up: catch_up.map(|c| c.last.saturating_duration_since(driver_stopped)),
        max_lag: catch_up.map(|c| c.max_lag),
        requests: stats.requests.load(std::sync::atomic::Ordering::Relaxed),
        failed_requests: stats.failed.load(std::sync::atomic::Ordering::Relaxed),
        last_failure: failure,
        took: started.elapsed(),
        notes,
        error: None,
    })
}
