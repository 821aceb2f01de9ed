//! `cargo xtask bench orders`: order status transitions over HTTP against a durable PostgreSQL
//! and a real nats-server, reporting transitions/s, commit→stored-in-JetStream latency, and
//! pgbench's simple-update rate on the same PostgreSQL for scale.
//!
//! Everything runs on this machine: the orders service in-process (build with `--release`),
//! the HTTP load from this process, PostgreSQL and nats-server as child processes.

use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use async_nats::jetstream::consumer::{DeliverPolicy, pull};
use futures::StreamExt as _;
use orderflow_auth::{AuthSettings, dev};
use orderflow_events::Event as _;
use orderflow_orders::domain::{CustomerId, Quantity, Sku};
use orderflow_orders::service::{Actor, LineRequest, OrderService};
use orderflow_orders::{Config, OrdersApp};
use orderflow_outbox::StreamSettings;
use orderflow_test_support::{NatsServer, PgCluster};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::process::step;
use crate::tools;

/// Orders driven through their life; each makes four HTTP transitions.
const ORDERS: usize = 2_500;
/// Concurrent HTTP clients.
const CLIENTS: usize = 32;
/// pgbench run length.
const PGBENCH_SECONDS: u32 = 15;

/// Runs the benchmark and prints its figures.
pub fn run() -> anyhow::Result<()> {
    let tools = tools::ensure()?;
    let scratch = tempfile::tempdir()?;
    // A durable cluster (fsync on), as in production: the comparison with pgbench is fair.
    let pg = PgCluster::start_in(scratch.path(), None)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let (transitions_per_s, p50, p99, max) = runtime.block_on(drive(&pg.url()))?;

    step(&format!(
        "pgbench simple-update (-N), 16 clients, {PGBENCH_SECONDS} s"
    ));
    let pgbench = tools.pg_bin_dir.join("pgbench");
    let (base, _) = pg
        .url()
        .rsplit_once('/')
        .map(|(b, d)| (b.to_owned(), d.to_owned()))
        .context("pg url")?;
    let bench_db = format!("{base}/postgres");
    let init = Command::new(&pgbench)
        .args(["-i", "-q", "-s", "10", &bench_db])
        .output()?;
    anyhow::ensure!(
        init.status.success(),
        "pgbench -i failed: {}",
        String::from_utf8_lossy(&init.stderr)
    );
    let out = Command::new(&pgbench)
        .args([
            "-N",
            "-c",
            "16",
            "-j",
            "2",
            "-T",
            &PGBENCH_SECONDS.to_string(),
            &bench_db,
        ])
        .output()?;
    let text = String::from_utf8_lossy(&out.stdout);
    let pgbench_tps: f64 = text
        .lines()
        .find(|l| l.starts_with("tps"))
        .and_then(|l| l.split_whitespace().nth(2))
        .and_then(|v| v.parse().ok())
        .with_context(|| format!("no tps line in pgbench output:\n{text}"))?;

    println!("\n== orders benchmark ({ORDERS} orders x 4 transitions, {CLIENTS} HTTP clients) ==");
    println!("transitions/s:                 {transitions_per_s:.0}");
    println!(
        "commit -> stored p50:          {:.2} ms",
        p50.as_secs_f64() * 1e3
    );
    println!(
        "commit -> stored p99:          {:.2} ms",
        p99.as_secs_f64() * 1e3
    );
    println!(
        "commit -> stored max:          {:.2} ms",
        max.as_secs_f64() * 1e3
    );
    println!("pgbench simple-update tps:     {pgbench_tps:.0}");
    println!(
        "transitions / pgbench:         {:.0}%",
        100.0 * transitions_per_s / pgbench_tps
    );
    drop(pg);
    Ok(())
}

async fn drive(pg_url: &str) -> anyhow::Result<(f64, Duration, Duration, Duration)> {
    step("Starting nats-server and the orders service");
    let nats = NatsServer::start().await;
    sqlx_create_db(pg_url, "orders_bench").await?;
    let db_url = format!(
        "{}/orders_bench",
        pg_url.rsplit_once('/').context("pg url")?.0
    );
    let config = Config {
        listen: "127.0.0.1:0".parse()?,
        database_url: db_url.into(),
        db_max_connections: 40,
        nats_url: nats.url(),
        log_format: "text".into(),
        auth: AuthSettings::hs256(dev::ISSUER, dev::AUDIENCE, dev::SECRET),
        streams: StreamSettings::default(),
    };
    let app = OrdersApp::connect(config).await?;
    let shutdown = CancellationToken::new();
    app.spawn_background(&shutdown);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}", listener.local_addr()?);
    let router = app.router();
    tokio::spawn(async move { axum::serve(listener, router).await });

    step(&format!("Creating {ORDERS} draft orders (not measured)"));
    seed_product(&app).await?;
    let admin = Uuid::new_v4();
    let service = OrderService::new(app.pool.clone());
    let actor = Actor {
        customer_id: CustomerId(admin),
        name: "Bench".into(),
        is_admin: true,
    };
    let line = [LineRequest {
        sku: Sku::parse("BENCH-1")?,
        quantity: Quantity::new(1).context("qty")?,
    }];
    let mut ids = Vec::with_capacity(ORDERS);
    for _ in 0..ORDERS {
        ids.push(service.create(&actor, &line, None).await?.0.id.0);
    }
    wait_outbox_empty(&app).await?;
    let js = app.jetstream();
    let first_seq = js
        .get_stream("ORDERS")
        .await?
        .info()
        .await?
        .state
        .last_sequence
        + 1;

    step("Driving transitions over HTTP");
    let token = dev::issue_hs256(
        dev::SECRET,
        dev::DevClaims::new(admin).name("Bench").role("Admin"),
    );
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(CLIENTS)
        .build()?;
    let ids = Arc::new(ids);
    let started = Instant::now();
    let mut workers = Vec::new();
    for worker in 0..CLIENTS {
        let (client, token, base, ids) = (
            client.clone(),
            token.clone(),
            base.clone(),
            Arc::clone(&ids),
        );
        workers.push(tokio::spawn(async move {
            for id in ids.iter().skip(worker).step_by(CLIENTS) {
                for action in ["confirm", "process", "ship", "deliver"] {
                    let r = client
                        .post(format!("{base}/api/orders/{id}/{action}"))
                        .bearer_auth(&token)
                        .send()
                        .await?;
                    anyhow::ensure!(r.status().is_success(), "{action} {id}: {}", r.status());
                }
            }
            anyhow::Ok(())
        }));
    }
    for w in workers {
        w.await??;
    }
    let elapsed = started.elapsed();
    let transitions = (ORDERS * 4) as f64;
    wait_outbox_empty(&app).await?;

    step("Reading store times back from the stream");
    // One ordered consumer reads the whole run back in bulk; each message knows when it was stored.
    let consumer = js
        .get_stream("ORDERS")
        .await?
        .create_consumer(pull::OrderedConfig {
            deliver_policy: DeliverPolicy::ByStartSequence {
                start_sequence: first_seq,
            },
            ..Default::default()
        })
        .await?;
    let mut messages = consumer.messages().await?;
    let mut latencies = Vec::new();
    let mut seen = 0;
    // Per order: confirmed + status changed, then one status change per process, ship, deliver.
    while seen < ORDERS * 5 {
        let message = messages.next().await.context("stream ended early")??;
        seen += 1;
        let schema = message
            .headers
            .as_ref()
            .and_then(|h| h.get(orderflow_events::headers::SCHEMA))
            .map(|v| v.as_str().to_owned())
            .unwrap_or_default();
        let event = orderflow_events::decode_by_schema(&schema, &message.payload)?;
        // One latency per transition: its status-changed event.
        if let orderflow_events::AnyEvent::OrderStatusChanged(e) = &event
            && let Some(committed) = e
                .metadata()
                .and_then(|m| m.committed_at_utc().ok().flatten())
        {
            let stored = message
                .info()
                .map_err(|e| anyhow::anyhow!("{e}"))?
                .published;
            let d = stored - committed;
            latencies.push(Duration::from_secs_f64(d.as_seconds_f64().max(0.0)));
        }
    }
    shutdown.cancel();
    latencies.sort();
    anyhow::ensure!(
        latencies.len() == ORDERS * 4,
        "expected {} events, found {}",
        ORDERS * 4,
        latencies.len()
    );
    let pct = |p: f64| latencies[((latencies.len() as f64 - 1.0) * p) as usize];
    Ok((
        transitions / elapsed.as_secs_f64(),
        pct(0.50),
        pct(0.99),
        *latencies.last().context("none")?,
    ))
}

async fn sqlx_create_db(url: &str, name: &str) -> anyhow::Result<()> {
    use sqlx::Connection as _;
    let mut conn = sqlx::PgConnection::connect(url).await?;
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&mut conn)
        .await?;
    Ok(())
}

async fn seed_product(app: &OrdersApp) -> anyhow::Result<()> {
    use orderflow_orders::domain::{Money, ProductId};
    use orderflow_orders::store::{CatalogEntry, apply_product_upserted};
    let entry = CatalogEntry {
        product_id: ProductId(Uuid::now_v7()),
        sku: Sku::parse("BENCH-1")?,
        name: "Bench item".into(),
        unit_price: Money(1_000),
        currency: "USD".into(),
    };
    let mut conn = app.pool.acquire().await?;
    apply_product_upserted(&mut conn, &entry, 1, time::OffsetDateTime::now_utc()).await?;
    Ok(())
}

async fn wait_outbox_empty(app: &OrdersApp) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(120);
    while orderflow_outbox::pending_count(&app.pool).await? > 0 {
        anyhow::ensure!(Instant::now() < deadline, "outbox did not drain");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Ok(())
}
