//! The scale-out test: on loopback, a 3-node JetStream cluster (streams at 3 replicas), two
//! orders replicas, one inventory, two gateways, and official SignalR clients (Node,
//! `clients/`) spread over both gateways. While a driver keeps changing orders, the `ORDERS`
//! stream's leader node is killed and later restarted, then one gateway is killed; its clients
//! reconnect to the other and resume from the hub URL. Asserted: every client receives every
//! update of its groups exactly once and in stream order, and every resume answers `ok`; the
//! stream holds every committed event once (versions 1..=n per order); orders answered every
//! request. Reported: HTTP errors during the node loss and the time until all clients caught up.
//!
//! `cargo test -p orderflow-scale-out` (runs `npm ci` in `clients/` when needed).

mod support;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use orderflow_events::{AnyEvent, decode_by_schema, headers};
use orderflow_scale_out::ledger::{Ledger, Pushed, expected_positions};
use serde_json::json;
use support::*;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Command;
use tokio::sync::Mutex;
use uuid::Uuid;

const CUSTOMERS: usize = 8;

/// An `ORDERS` stream message, reduced to what the checks need.
struct Stored {
    sequence: u64,
    customer: String,
    order: Uuid,
    version: u64,
    /// Shown to the order's customer (status changes) or only to admins (creation).
    pushed_to_customer: bool,
    pushed_to_admin: bool,
}

async fn read_orders_stream(js: &async_nats::jetstream::Context, after: u64) -> Vec<Stored> {
    let stream = js.get_stream("ORDERS").await.unwrap();
    let last = stream.get_info().await.unwrap().state.last_sequence;
    let mut out = Vec::new();
    for sequence in after + 1..=last {
        let raw = stream.get_raw_message(sequence).await.unwrap();
        let schema = raw
            .headers
            .get(headers::SCHEMA)
            .unwrap()
            .as_str()
            .to_owned();
        let event = decode_by_schema(&schema, &raw.payload).unwrap();
        let (meta, pushed_to_customer, pushed_to_admin) = match &event {
            AnyEvent::OrderStatusChanged(e) => (e.metadata.clone(), true, true),
            AnyEvent::OrderCreated(e) => (e.metadata.clone(), false, true),
            AnyEvent::OrderConfirmed(e) => (e.metadata.clone(), false, false),
            AnyEvent::OrderCancelled(e) => (e.metadata.clone(), false, false),
            other => panic!("unexpected event in ORDERS: {other:?}"),
        };
        let meta = meta.unwrap();
        // orders.v1.<customer>.<order>.<event>
        let customer = raw.subject.split('.').nth(2).unwrap().to_owned();
        out.push(Stored {
            sequence,
            customer,
            order: meta.aggregate_id.parse().unwrap(),
            version: meta.aggregate_version,
            pushed_to_customer,
            pushed_to_admin,
        });
    }
    out
}

async fn npm_ci(dir: &Path) {
    if dir.join("node_modules/@microsoft/signalr").exists() {
        return;
    }
    let status = Command::new("npm")
        .args(["ci", "--no-audit", "--no-fund"])
        .current_dir(dir)
        .status()
        .await
        .expect("npm is needed for the SignalR clients");
    assert!(status.success(), "npm ci failed in {}", dir.display());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn no_update_is_lost_when_a_nats_node_and_a_gateway_die() {
    let run_started = Instant::now();
    let mut system = System::start().await;
    let http = orderflow_runtime::http::client();
    system.seed(&http).await;
    system.drain_outbox().await;
    let start = system
        .js
        .get_stream("ORDERS")
        .await
        .unwrap()
        .get_info()
        .await
        .unwrap();
    let start_seq = start.state.last_sequence;

    // Clients: one per customer, alternating gateways, plus one admin on each gateway.
    let customers: Vec<Uuid> = (0..CUSTOMERS).map(|_| Uuid::new_v4()).collect();
    let mut specs: Vec<_> = customers
        .iter()
        .enumerate()
        .map(|(i, c)| {
            json!({ "id": c.to_string(), "token": token(*c, false), "admin": false,
                              "gateway": i % 2, "start": format!("ORDERS:{start_seq}") })
        })
        .collect();
    for g in 0..2 {
        specs.push(
            json!({ "id": format!("admin-{g}"), "token": token(Uuid::new_v4(), true),
                           "admin": true, "gateway": g, "start": format!("ORDERS:{start_seq}") }),
        );
    }
    let on_gateway_a: Vec<String> = specs
        .iter()
        .filter(|s| s["gateway"] == 0)
        .map(|s| s["id"].as_str().unwrap().to_owned())
        .collect();
    let config = json!({ "gateways": [system.gateways[0].url(), system.gateways[1].url()],
                         "clients": specs });
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("clients");
    npm_ci(&dir).await;
    let mut node = Command::new("node")
        .arg("clients.mjs")
        .current_dir(&dir)
        .env("SCALE_OUT_CONFIG", config.to_string())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .expect("node is needed for the SignalR clients");
    let ledger = Arc::new(Mutex::new(Ledger::default()));
    let mut lines = BufReader::new(node.stdout.take().unwrap()).lines();
    let reader = {
        let ledger = ledger.clone();
        tokio::spawn(async move {
            while let Ok(Some(line)) = lines.next_line().await {
                ledger.lock().await.record(&line, Instant::now()).unwrap();
            }
        })
    };
    let total = CUSTOMERS + 2;
    let deadline = Instant::now() + Duration::from_secs(30);
    while ledger.lock().await.ready_count() < total {
        assert!(
            Instant::now() < deadline,
            "clients not ready: {:?}",
            ledger.lock().await
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // A steady stream of order changes over both orders replicas.
    let stop = Arc::new(AtomicBool::new(false));
    let driver_log = Arc::new(Mutex::new(DriverLog::default()));
    let bases = system.orders.iter().map(|(_, b)| b.clone()).collect();
    let driver = tokio::spawn(drive(
        bases,
        customers.clone(),
        Duration::from_millis(20),
        stop.clone(),
        driver_log.clone(),
    ));
    tokio::time::sleep(Duration::from_secs(3)).await;

    // 1. Kill the ORDERS stream leader, run without it, bring it back.
    let leader = system.orders_leader().await;
    let node_killed = Instant::now();
    system.cluster.kill(leader);
    tokio::time::sleep(Duration::from_secs(4)).await;
    system.cluster.restart(leader).await;
    let node_back = Instant::now();
    let new_leader = system.orders_leader().await;
    tokio::time::sleep(Duration::from_secs(2)).await;

    // 2. Kill gateway A; its clients must reconnect to B and resume.
    let gateway_killed = Instant::now();
    system.gateways[0].kill();
    tokio::time::sleep(Duration::from_secs(4)).await;
    stop.store(true, Ordering::Relaxed);
    driver.await.unwrap();
    let driver_stopped = Instant::now();

    // Everything committed is in the stream; now every client must show its share of it.
    system.drain_outbox().await;
    let stored = read_orders_stream(&system.js, start_seq).await;
    let admins: Vec<String> = (0..2).map(|g| format!("admin-{g}")).collect();
    let pushed = stored.iter().map(|s| Pushed {
        sequence: s.sequence,
        customer: &s.customer,
        to_customer: s.pushed_to_customer,
        to_dashboard: s.pushed_to_admin,
    });
    let expected = expected_positions(pushed, &admins);
    let client_ids: Vec<String> = customers
        .iter()
        .map(Uuid::to_string)
        .chain(admins.iter().cloned())
        .collect();
    let caught_up_deadline = Instant::now() + Duration::from_secs(30);
    let caught_up = loop {
        let done = {
            let l = ledger.lock().await;
            client_ids.iter().all(|c| {
                let want = expected.get(c).cloned().unwrap_or_default();
                l.verdict(c, &want).lost.is_empty()
            })
        };
        if done {
            break Instant::now();
        }
        if Instant::now() > caught_up_deadline {
            break Instant::now();
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    // Late duplicates would arrive now.
    tokio::time::sleep(Duration::from_millis(500)).await;
    drop(node.stdin.take());
    let _ = tokio::time::timeout(Duration::from_secs(5), node.wait()).await;
    reader.abort();

    // Report.
    let log = driver_log.lock().await;
    let l = ledger.lock().await;
    let during_loss = log
        .failures
        .iter()
        .filter(|f| f.at >= node_killed && f.at <= node_back)
        .count();
    let mut hidden_duplicates = 0;
    let mut out_of_order = 0;
    let mut delivered = 0;
    println!("scale-out report");
    println!(
        "  orders stream leader killed: n{} (new leader after restart: n{})",
        leader + 1,
        new_leader + 1
    );
    println!(
        "  driver: {} requests, {} orders, {} failed ({} during the NATS node loss of {:.1} s)",
        log.requests,
        log.orders.len(),
        log.failures.len(),
        during_loss,
        (node_back - node_killed).as_secs_f64()
    );
    for f in log.failures.iter().take(5) {
        println!("    failure: {}", f.what);
    }
    println!("  events in ORDERS during the run: {}", stored.len());
    for c in &client_ids {
        let want = expected.get(c).cloned().unwrap_or_default();
        let v = l.verdict(c, &want);
        let log = l.client(c);
        hidden_duplicates += v.raw_duplicates;
        out_of_order += v.out_of_order;
        delivered += log.raw.len();
        println!(
            "  client {c:<36} gateway {} expected {:>4} shown {:>4} lost {} foreign {} raw dups {} late {} reconnects {} resumes {:?} errors {:?}",
            if on_gateway_a.contains(c) { "A" } else { "B" },
            want.len(),
            log.shown().len(),
            v.lost.len(),
            v.foreign.len(),
            v.raw_duplicates,
            v.out_of_order,
            log.reconnects,
            log.resumes,
            log.errors
        );
    }
    println!(
        "  messages delivered: {delivered}, duplicates hidden by de-duplication: {hidden_duplicates}, \
         arrived after a later update: {out_of_order}"
    );
    let last_resume = on_gateway_a
        .iter()
        .filter_map(|c| l.client(c).resumed_at.last().copied())
        .max()
        .unwrap_or(gateway_killed);
    let replayed: u64 = on_gateway_a
        .iter()
        .flat_map(|c| l.client(c).resumes)
        .filter_map(|r| r["replayed"].as_u64())
        .sum();
    println!(
        "  gateway A killed: all its clients reconnected to B and resumed within {:.0} ms; {replayed} missed events replayed",
        (last_resume - gateway_killed).as_secs_f64() * 1000.0
    );
    println!(
        "  all clients caught up {:.0} ms after the driver stopped ({:.1} s after the gateway kill)",
        (caught_up - driver_stopped).as_secs_f64() * 1000.0,
        (caught_up - gateway_killed).as_secs_f64()
    );
    println!("  whole test: {:.1} s", run_started.elapsed().as_secs_f64());

    // Assertions.
    for c in &client_ids {
        let want = expected.get(c).cloned().unwrap_or_default();
        assert!(
            !want.is_empty(),
            "client {c} had nothing to receive: the test proves nothing"
        );
        let v = l.verdict(c, &want);
        assert!(v.is_exact(), "client {c}: {v:?}");
        assert_eq!(v.raw_duplicates, 0, "client {c} was sent an update twice");
        assert_eq!(
            v.out_of_order, 0,
            "client {c} got an update after a later one"
        );
        let resumes = &l.client(c).resumes;
        assert!(
            resumes.iter().all(|r| r["status"] == "ok"),
            "client {c}: {resumes:?}"
        );
    }
    for c in &on_gateway_a {
        assert!(
            l.client(c).reconnects >= 1,
            "client {c} on the killed gateway never reconnected"
        );
        let ok = l
            .client(c)
            .resumes
            .iter()
            .filter(|r| r["status"] == "ok")
            .count();
        assert!(
            ok >= 2,
            "client {c} did not Resume after reconnecting: {:?}",
            l.client(c).resumes
        );
    }
    assert!(
        replayed > 0,
        "Resume replayed nothing: the reconnect gap was not exercised"
    );
    assert!(
        !on_gateway_a
            .iter()
            .any(|c| l.client(c).errors.iter().any(|e| e.starts_with("resume"))),
        "a Resume call failed"
    );
    // The stream holds every event of every order once: versions 1..=n, no gap, no repeat.
    let mut versions: BTreeMap<Uuid, Vec<u64>> = BTreeMap::new();
    for s in &stored {
        versions.entry(s.order).or_default().push(s.version);
    }
    for order in &log.orders {
        let mut v = versions.get(order).cloned().unwrap_or_default();
        v.sort_unstable();
        let n = v.len() as u64;
        assert_eq!(v, (1..=n).collect::<Vec<_>>(), "events of order {order}");
        let body: serde_json::Value = http
            .get(format!("{}/api/orders/{order}", system.orders[1].1))
            .bearer_auth(token(Uuid::new_v4(), true))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(
            body["version"], n,
            "order {order}: stored version vs events in the stream"
        );
    }
    assert!(
        log.orders.len() >= 20,
        "the driver made too few orders to mean anything"
    );
    assert!(
        log.failures.is_empty(),
        "orders failed requests: {:?}",
        log.failures
    );
    system.shutdown.cancel();
}
