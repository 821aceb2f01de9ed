//! Runs the Node suite in `signalr-tests/` (the official `@microsoft/signalr` client, and the
//! Python pysignalr client it launches) against
//! real gateway processes. This test is the launcher: it starts nats-server with the real
//! streams, three `gateway` binaries (A and B side by side, plus one that the suite drains with
//! SIGTERM), all logging at debug level to files, and a small control endpoint through which the
//! suite publishes real protobuf events to JetStream. URLs, pids, log paths and the JWT settings
//! reach Node through the child's environment.
//!
//! One command: `cargo test -p orderflow-gateway --test gateway signalr_client`
//! (runs `npm ci` first when `node_modules` is missing).
//!
//! After the suite, whatever order its files ran in, the launcher checks every gateway log for
//! what no test may make a gateway log: a JWT-shaped string, an `access_token` parameter, or any
//! token the suite issued (Node writes each to a file the launcher names).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use crate::support::*;
use async_nats::jetstream;
use axum::Json;
use axum::extract::State;
use axum::routing::post;
use orderflow_auth::dev;
use orderflow_events::orders::v1::OrderStatus;
use orderflow_test_support::{NatsServer, discover, free_port};
use serde_json::{Value, json};
use tokio::process::{Child, Command};
use uuid::Uuid;

fn status(name: &str) -> OrderStatus {
    OrderStatus::from_str_name(&format!("ORDER_STATUS_{}", name.to_ascii_uppercase()))
        .unwrap_or(OrderStatus::Unspecified)
}

fn uuid(v: &Value) -> Uuid {
    v.as_str()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(Uuid::now_v7)
}

/// `POST /publish`: `{kind: "status"|"created"|"stock", ...}` → `{sequence, position}`
/// (optional: `reason` of a status change, `currency` of a creation, `version` of a stock change).
async fn publish_handler(
    State(js): State<jetstream::Context>,
    Json(body): Json<Value>,
) -> Json<Value> {
    let text = |k: &str| body[k].as_str().unwrap_or_default().to_owned();
    let int = |k: &str| body[k].as_i64().unwrap_or_default();
    let (stream, sequence) = match body["kind"].as_str() {
        Some("status") => {
            let mut e = status_changed(
                uuid(&body["customerId"]),
                uuid(&body["orderId"]),
                &text("orderNumber"),
                status(&text("old")),
                status(&text("new")),
            );
            e.reason = text("reason");
            ("ORDERS", publish(&js, &e).await)
        }
        Some("created") => {
            let mut e = created(
                uuid(&body["customerId"]),
                uuid(&body["orderId"]),
                &text("orderNumber"),
                int("totalMinor"),
            );
            e.customer_name = text("customerName");
            if let Some(currency) = body["currency"].as_str() {
                e.currency = currency.to_owned();
            }
            ("ORDERS", publish(&js, &e).await)
        }
        Some("stock") => {
            let mut e = stock(&text("sku"), int("old"), int("new"), int("threshold"));
            if let (Some(meta), Some(version)) = (e.metadata.as_mut(), body["version"].as_u64()) {
                meta.aggregate_version = version;
            }
            ("INVENTORY", publish(&js, &e).await)
        }
        other => panic!("unknown kind {other:?}"),
    };
    Json(json!({ "sequence": sequence, "position": format!("{stream}:{sequence}") }))
}

async fn spawn_gateway(nats: &NatsServer, logs: &Path, name: &str) -> (Child, SocketAddr, PathBuf) {
    let addr = SocketAddr::from(([127, 0, 0, 1], free_port()));
    let log = logs.join(format!("gateway-{name}.log"));
    let file = std::fs::File::create(&log).unwrap();
    let child = Command::new(env!("CARGO_BIN_EXE_gateway"))
        .env("GATEWAY_LISTEN", addr.to_string())
        .env("ORDERFLOW_NATS_URL", nats.url())
        .env("ORDERFLOW_JWT_ISSUER", dev::ISSUER)
        .env("ORDERFLOW_JWT_AUDIENCE", dev::AUDIENCE)
        .env("ORDERFLOW_JWT_HS256_SECRET", dev::SECRET)
        .env("GATEWAY_ALLOWED_ORIGINS", ORIGIN)
        .env("GATEWAY_DRAIN_GRACE", "5s")
        // One deployment: a negotiate on one gateway may be followed by a socket on another.
        .env(
            "GATEWAY_CONNECTION_TOKEN_SECRET",
            orderflow_gateway::config::TEST_TOKEN_SECRET,
        )
        // Debug everywhere, so the log checks see everything that could leak a token.
        .env("RUST_LOG", "debug")
        .stdout(Stdio::from(file.try_clone().unwrap()))
        .stderr(Stdio::from(file))
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let ready = format!("http://{addr}/readyz");
    for _ in 0..200 {
        if orderflow_runtime::http::client()
            .get(&ready)
            .send()
            .await
            .is_ok_and(|r| r.status().is_success())
        {
            return (child, addr, log);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!(
        "gateway {name} did not become ready; log: {}",
        std::fs::read_to_string(&log).unwrap_or_default()
    );
}

/// Whether `text` holds a JWT's shape: `eyJ` (a base64url JSON header), then a payload, each
/// at least 8 characters of `[A-Za-z0-9_-]` and followed by a dot. Not just `eyJ`: random
/// connection ids contain those three letters now and then.
fn has_jwt_shape(text: &str) -> bool {
    let is_b64 = |c: u8| c.is_ascii_alphanumeric() || c == b'_' || c == b'-';
    // The length of the base64url run at `from`, if at least 8 long and followed by a dot.
    let run_then_dot = |bytes: &[u8], from: usize| {
        let len = bytes[from..].iter().take_while(|&&c| is_b64(c)).count();
        (len >= 8 && bytes.get(from + len) == Some(&b'.')).then_some(len)
    };
    let bytes = text.as_bytes();
    text.match_indices("eyJ").any(|(at, _)| {
        run_then_dot(bytes, at + 3)
            .is_some_and(|header| run_then_dot(bytes, at + 3 + header + 1).is_some())
    })
}

/// No gateway log holds anything that could open a connection, whichever test sent it: run
/// after the whole suite, so no test file has to run last.
fn assert_no_tokens_in(logs: &[PathBuf], issued: &Path) {
    let issued = std::fs::read_to_string(issued).unwrap_or_default();
    // Each token, and its signature alone (the part that makes it valid).
    let secrets: Vec<&str> = issued
        .lines()
        .filter(|t| !t.is_empty())
        .flat_map(|t| [t, t.rsplit('.').next().unwrap_or(t)])
        .collect();
    assert!(!secrets.is_empty(), "the suite recorded no issued tokens");
    for path in logs {
        let log = std::fs::read_to_string(path).unwrap();
        let name = path.display();
        assert!(!log.is_empty(), "{name} is empty: not logging at all?");
        assert!(log.contains("DEBUG"), "{name} is not at debug level");
        assert!(
            !has_jwt_shape(&log),
            "{name} contains something that looks like a JWT"
        );
        assert!(
            !log.contains("access_token"),
            "{name} contains a URL with a token parameter"
        );
        for secret in &secrets {
            assert!(
                !log.contains(secret),
                "{name} contains a token the suite issued"
            );
        }
    }
}

#[test]
fn jwt_shapes_are_told_from_ids() {
    assert!(has_jwt_shape(
        "GET /hubs/orders?id=eyJhbGciOiJI.eyJzdWIiOiIx.c2ln"
    ));
    assert!(!has_jwt_shape("connection eyJ4f9a2b0c"));
    assert!(!has_jwt_shape("eyJabc.eyJdefghijkl.x"));
    assert!(!has_jwt_shape("eyJabcdefghijk.eyJdefghijkl"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn official_signalr_client_suite() {
    let suite = Path::new(env!("CARGO_MANIFEST_DIR")).join("signalr-tests");
    if !suite.join("node_modules").exists() {
        let status = std::process::Command::new("npm")
            .args(["ci", "--no-audit", "--no-fund"])
            .current_dir(&suite)
            .status()
            .unwrap();
        assert!(status.success(), "npm ci failed");
    }
    let nats = NatsServer::start().await;
    let js = jetstream::new(async_nats::connect(nats.url()).await.unwrap());
    orderflow_outbox::ensure_streams(&js, &orderflow_outbox::StreamSettings::default())
        .await
        .unwrap();
    let logs = tempfile::tempdir().unwrap();
    let (_a, addr_a, log_a) = spawn_gateway(&nats, logs.path(), "a").await;
    let (_b, addr_b, log_b) = spawn_gateway(&nats, logs.path(), "b").await;
    let (drain, addr_drain, log_drain) = spawn_gateway(&nats, logs.path(), "drain").await;

    let control = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let control_addr = control.local_addr().unwrap();
    let app = axum::Router::new()
        .route("/publish", post(publish_handler))
        .with_state(js.clone());
    tokio::spawn(async move { axum::serve(control, app).await.unwrap() });

    let issued = logs.path().join("issued-tokens.txt");
    let log_paths = [log_a, log_b, log_drain];
    let logs_list = log_paths
        .iter()
        .map(|p| p.display().to_string())
        .collect::<Vec<_>>()
        .join(",");
    // The Python client (pysignalr) the suite also drives; `cargo xtask tools` installs it.
    let pysignalr = discover::find_pysignalr().unwrap_or_else(|| {
        panic!(
            "pysignalr not found: run `cargo xtask tools` or set {}",
            discover::PYSIGNALR_DIR_ENV
        )
    });
    let status = Command::new("node")
        .args([
            "--test",
            "--test-concurrency=1",
            "--test-timeout=60000",
            "--test-force-exit",
            "--test-reporter=spec",
            "tests/",
        ])
        .current_dir(&suite)
        .env("GATEWAY_A_URL", format!("http://{addr_a}"))
        .env("GATEWAY_B_URL", format!("http://{addr_b}"))
        .env("GATEWAY_DRAIN_URL", format!("http://{addr_drain}"))
        .env("GATEWAY_DRAIN_PID", drain.id().unwrap().to_string())
        .env("GATEWAY_LOGS", &logs_list)
        .env("CONTROL_URL", format!("http://{control_addr}"))
        .env("JWT_ISSUER", dev::ISSUER)
        .env("JWT_AUDIENCE", dev::AUDIENCE)
        .env("JWT_SECRET", dev::SECRET)
        .env("ALLOWED_ORIGIN", ORIGIN)
        .env("PYSIGNALR_DIR", &pysignalr)
        .env("ISSUED_TOKENS_FILE", &issued)
        .kill_on_drop(true)
        .status();
    // The suite's own per-test timeout is 60 s; this bounds the whole run.
    let status = tokio::time::timeout(Duration::from_secs(420), status)
        .await
        .expect("the Node suite hung")
        .unwrap();
    if !status.success() {
        // Gateway logs help diagnose a failure (they hold no secrets: that is tested).
        for log in logs_list.split(',') {
            let text = std::fs::read_to_string(log).unwrap_or_default();
            let lines: Vec<&str> = text
                .lines()
                .filter(|l| {
                    l.contains("orderflow") && !l.contains("DEBUG orderflow_gateway::session")
                })
                .collect();
            eprintln!(
                "---- {log} ----\n{}",
                lines[lines.len().saturating_sub(40)..].join("\n")
            );
        }
    }
    assert!(status.success(), "the Node suite failed");
    assert_no_tokens_in(&log_paths, &issued);
}
