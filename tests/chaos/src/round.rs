//! One round of one scenario on a fresh system: start everything, connect the clients, warm
//! up under load, inject and heal the fault, keep the load on a little longer, stop it, wait
//! until the outbox is empty and the clients caught up, and judge every client against the
//! `ORDERS` stream, the driver's acknowledged changes against the databases and the stream,
//! the stock against the reservations, and the fault's own expectations (`Scenario::expect`).

use std::path::Path;
use std::time::{Duration, Instant};

use uuid::Uuid;

use crate::binaries::Binaries;
use crate::clients::{ClientSpec, Clients, ResumeMode, Transport};
use crate::driver::{Driver, DriverStats};
use crate::readyz::{ReadyzFigures, ReadyzWatch};
use crate::report::{HttpFigures, Outcome, RoundResult};
use crate::scenario::{Expect, READYZ_BOUND, Scenario, step};
use crate::system::{INITIAL_STOCK, System, token};
use crate::{stream, verify};

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
/// How long inventory gets to catch up with every confirmation before the stock is checked.
const RESERVE_WITHIN: Duration = Duration::from_secs(60);
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
    let mut system = System::start(bins, logs, scenario.own_postgres()).await?;
    let seed_order = system.seed().await?;
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
            transport: Transport::for_client(i),
            start: position.clone(),
        })
        .collect();
    specs.extend(admins.iter().enumerate().map(|(i, id)| ClientSpec {
        id: id.clone(),
        token: token(Uuid::new_v4(), true),
        admin: true,
        gateway: i % 2,
        cross: i % 2 == 1,
        transport: Transport::WebSockets,
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
    let readyz = ReadyzWatch::start(vec![system.orders.url(), system.inventory.url()]);
    tokio::time::sleep(WARM_UP).await;
    let fault_notes = scenario.inject(&mut system).await?;
    tokio::time::sleep(AFTER).await;
    let driven = driver.stop().await;
    let driver_stopped = Instant::now();
    let readyz = readyz.stop().await;
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

    step("checking the databases");
    let db_problems = verify::orders(&system.orders_pool, &driven, &stored, seed_order).await?;
    let stock = verify::stock(
        &system.orders_pool,
        &system.inventory_pool,
        INITIAL_STOCK,
        RESERVE_WITHIN,
    )
    .await?;
    let http = http_figures(&driven.stats).await;
    let fault_problems = fault_problems(scenario.expect(), &http, &stock, &readyz);

    let outcome = Outcome::judge(&ledger, &ids, &expected);
    let mut notes = fault_problems.clone();
    notes.extend(db_problems.iter().take(5).cloned());
    notes.extend(stock.problems.iter().cloned());
    notes.extend(outcome.notes.iter().cloned());
    for (order, versions) in anomalies.iter().take(3) {
        notes.push(format!("stream: order {order} has versions {versions:?}"));
    }
    if unreadable > 0 {
        notes.push(format!("{unreadable} unreadable client lines"));
    }
    Ok(RoundResult {
        scenario,
        round,
        events: stored.len(),
        outcome,
        stream_anomalies: anomalies.len(),
        caught_up: catch_up.map(|c| c.last.saturating_duration_since(driver_stopped)),
        max_lag: catch_up.map(|c| c.max_lag),
        http,
        db_problems,
        stock_problems: Some(stock.problems),
        slowest_reservation: stock.slowest_reservation,
        readyz,
        fault_problems,
        fault_notes,
        took: started.elapsed(),
        notes,
        error: None,
    })
}

async fn http_figures(stats: &DriverStats) -> HttpFigures {
    let n = |c: &std::sync::atomic::AtomicU64| c.load(std::sync::atomic::Ordering::Relaxed);
    HttpFigures {
        requests: n(&stats.requests),
        failed: n(&stats.failed),
        transport: n(&stats.transport),
        unavailable: n(&stats.unavailable),
        other: n(&stats.other),
        retries: n(&stats.retries),
        retry_conflicts: n(&stats.retry_conflicts),
        slowest_failure: Duration::from_micros(n(&stats.slowest_failure_us)),
        last_failure: stats.last_failure.lock().await.clone(),
        last_other: stats.last_other.lock().await.clone(),
    }
}

/// What the round cost beyond what the scenario allows (see [`Expect`]).
fn fault_problems(
    expect: Expect,
    http: &HttpFigures,
    stock: &verify::Stock,
    readyz: &ReadyzFigures,
) -> Vec<String> {
    let mut problems = Vec::new();
    if http.retry_conflicts > 0 {
        problems.push(format!(
            "{} retries were answered 409",
            http.retry_conflicts
        ));
    }
    if http.other > 0 {
        problems.push(format!(
            "{} requests failed with something other than a 503 with Retry-After or a dead \
             service",
            http.other
        ));
    }
    if http.transport > 0 && !expect.transport_failures {
        problems.push(format!("{} requests got no answer", http.transport));
    }
    if http.unavailable > 0 && !expect.unavailable {
        problems.push(format!(
            "{} requests got 503 database_unavailable",
            http.unavailable
        ));
    }
    if let (Some(bound), Some(slowest)) = (expect.reservation_bound, stock.slowest_reservation)
        && slowest > bound
    {
        problems.push(format!(
            "the slowest reservation took {slowest:?}, over {bound:?}"
        ));
    }
    if expect.readyz_bound {
        if readyz.slowest > READYZ_BOUND || readyz.timed_out > 0 {
            problems.push(format!(
                "/readyz answered in up to {:?} ({} timed out), over {READYZ_BOUND:?}",
                readyz.slowest, readyz.timed_out
            ));
        }
        if readyz.unready == 0 {
            problems.push("/readyz never said unready while PostgreSQL was down".to_owned());
        }
    }
    if expect.always_ready && readyz.unready > 0 {
        problems.push(format!(
            "/readyz of orders or inventory said unready {} times",
            readyz.unready
        ));
    }
    problems
}
