//! `orderflow-bench orders` (`cargo xtask bench orders`): order status transitions over HTTP
//! against a durable PostgreSQL and a real nats-server. Two phases: as fast as 32 closed-loop
//! clients can go (transitions/s, and commit→stored-in-JetStream latency at saturation), then at
//! a steady offered rate of 2,000 transitions/s (open loop: latency at the goal's rate, not at
//! saturation). pgbench's simple-update rate on the same PostgreSQL gives the scale.
//!
//! Everything runs on this machine: the orders service in-process (build with `--release`), the
//! HTTP load from this process on a runtime of its own, PostgreSQL and nats-server as child
//! processes.

use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use async_nats::jetstream::consumer::{AckPolicy, DeliverPolicy, pull};
use futures::StreamExt as _;
use orderflow_auth::{AuthSettings, dev};
use orderflow_events::Event as _;
use orderflow_orders::domain::{Quantity, Sku};
use orderflow_orders::service::LineRequest;
use orderflow_orders::{Config, OrdersApp};
use orderflow_test_support::{NatsServer, PgCluster};
use tokio::runtime::Handle;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::cpu::CpuTimes;
use crate::step;
use crate::support::{OrdersApi, bench_admin, create_database, serve};

/// Orders driven through their life in each phase; each makes four HTTP transitions.
const ORDERS: usize = 2_500;
/// Offered rate of the steady phase (the issue's throughput goal), transitions/s.
const STEADY_RATE: f64 = 2_000.0;
/// The four transitions of an order's life, in order.
const ACTIONS: [&str; 4] = ["confirm", "process", "ship", "deliver"];
/// Concurrent HTTP clients.
const CLIENTS: usize = 32;
/// pgbench run length.
const PGBENCH_SECONDS: u32 = 15;

/// Runs the benchmark and prints its figures.
pub fn run() -> anyhow::Result<()> {
    let pg_bin_dir = crate::pg_bin_dir()?;
    let scratch = tempfile::tempdir()?;
    // A durable cluster (fsync on), as in production: the comparison with pgbench is fair.
    let pg = PgCluster::start_in(scratch.path(), None)?;
    // The service and the HTTP load get a runtime each, so the load generator's tasks never
    // queue in front of the service's (in production, clients are other machines). The two
    // still share the machine's two cores with PostgreSQL and nats-server.
    let service = tokio::runtime::Builder::new_multi_thread()
        .thread_name("orders-service")
        .enable_all()
        .build()?;
    let load = tokio::runtime::Builder::new_multi_thread()
        .thread_name("http-load")
        .enable_all()
        .build()?;
    let (saturated, steady) = service.block_on(drive(&pg.url(), load.handle()))?;

    step(&format!(
        "pgbench simple-update (-N), 16 clients, {PGBENCH_SECONDS} s"
    ));
    let pgbench = pg_bin_dir.join("pgbench");
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
    let (cpu_before, window) = (CpuTimes::now()?, Instant::now());
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
    let pgbench_others = CpuTimes::now()?
        .since(cpu_before)
        .others_share(window.elapsed())?;
    let text = String::from_utf8_lossy(&out.stdout);
    let pgbench_tps: f64 = text
        .lines()
        .find(|l| l.starts_with("tps"))
        .and_then(|l| l.split_whitespace().nth(2))
        .and_then(|v| v.parse().ok())
        .with_context(|| format!("no tps line in pgbench output:\n{text}"))?;

    println!("\n== orders benchmark ({ORDERS} orders x 4 transitions per phase) ==");
    saturated.print(&format!(
        "as fast as possible, {CLIENTS} closed-loop HTTP clients"
    ));
    steady.print(&format!(
        "steady offered rate of {STEADY_RATE:.0}/s, open loop"
    ));
    println!("pgbench simple-update tps:     {pgbench_tps:.0}");
    println!(
        "other work during pgbench:     {:.0}% of the cores",
        100.0 * pgbench_others
    );
    println!(
        "transitions / pgbench:         {:.0}% (as fast as possible)",
        100.0 * saturated.rate / pgbench_tps
    );
    drop(pg);
    Ok(())
}

async fn drive(pg_url: &str, load: &Handle) -> anyhow::Result<(Phase, Phase)> {
    step("Starting nats-server and the orders service");
    let nats = NatsServer::start().await;
    let db_url = create_database(pg_url, "orders_bench").await?;
    let config = Config {
        listen: "127.0.0.1:0".parse()?,
        database_url: db_url.into(),
        // Sized for the 2-core database, not for the 32 clients: more connections only queue
        // more transactions inside PostgreSQL, where they slow each other and the relay down.
        db_max_connections: 8,
        common: orderflow_service::Settings::local(
            nats.url(),
            AuthSettings::hs256(dev::ISSUER, dev::AUDIENCE, dev::SECRET),
        ),
    };
    let app = OrdersApp::connect(config).await?;
    let shutdown = CancellationToken::new();
    app.spawn_background(&shutdown);
    let base = serve(app.router(), &shutdown).await?;

    step(&format!(
        "Creating {} draft orders (not measured)",
        2 * ORDERS
    ));
    seed_product(&app).await?;
    let (admin, actor) = bench_admin();
    let service = app.orders();
    let line = [LineRequest {
        sku: Sku::parse("BENCH-1")?,
        quantity: Quantity::new(1).context("qty")?,
    }];
    let mut ids = Vec::with_capacity(2 * ORDERS);
    for _ in 0..2 * ORDERS {
        ids.push(service.create(&actor, &line, None).await?.0.id.0);
    }
    wait_outbox_empty(&app).await?;
    let js = app.jetstream();
    let http = OrdersApi::admin(&base, admin, CLIENTS * 4)?;
    let second = ids.split_off(ORDERS);

    step("Driving transitions over HTTP as fast as possible");
    let saturated = measure(&app, &js, load, drive_closed_loop(http.clone(), ids)).await?;
    step("Driving transitions over HTTP at a steady rate");
    let steady = measure(&app, &js, load, drive_at_rate(http, second)).await?;
    shutdown.cancel();
    Ok((saturated, steady))
}

/// The figures of one phase.
struct Phase {
    /// Transitions per second achieved.
    rate: f64,
    p50: Duration,
    p99: Duration,
    max: Duration,
    /// Busy time of all the machine's cores over the phase (service, relay, PostgreSQL,
    /// nats-server and the load generator), per transition: the cost of a transition, which
    /// the machine's speed of the moment moves far less than latency.
    cpu_per_transition: Duration,
    /// The share of the machine's cores that other work took over the phase. A host that
    /// slows this virtual machine down does not show here.
    others_share: f64,
}

impl Phase {
    fn print(&self, title: &str) {
        let ms = |d: Duration| d.as_secs_f64() * 1e3;
        println!("-- {title}");
        println!("transitions/s:                 {:.0}", self.rate);
        println!("commit -> stored p50:          {:.2} ms", ms(self.p50));
        println!("commit -> stored p99:          {:.2} ms", ms(self.p99));
        println!("commit -> stored max:          {:.2} ms", ms(self.max));
        println!(
            "machine CPU per transition:    {:.0} us",
            self.cpu_per_transition.as_secs_f64() * 1e6
        );
        println!(
            "other work on the machine:     {:.0}% of the cores",
            100.0 * self.others_share
        );
    }
}

/// Runs one phase's driver on the `load` runtime (it returns how long driving took), waits until
/// the relay has published everything, checks that the stream gained exactly the phase's events,
/// and reads each transition's commit→stored latency back.
async fn measure(
    app: &OrdersApp,
    js: &async_nats::jetstream::Context,
    load: &Handle,
    driver: impl Future<Output = anyhow::Result<Duration>> + Send + 'static,
) -> anyhow::Result<Phase> {
    // Read before the driver starts: the relay stores a phase's first events within milliseconds.
    let first_seq = last_sequence(js).await? + 1;
    let (cpu_before, window) = (CpuTimes::now()?, Instant::now());
    let elapsed = load.spawn(driver).await??;
    wait_outbox_empty(app).await?;
    let (cpu, window) = (CpuTimes::now()?.since(cpu_before), window.elapsed());
    let stored = last_sequence(js).await? + 1 - first_seq;
    anyhow::ensure!(
        stored == (ORDERS * 5) as u64,
        "the ORDERS stream gained {stored} messages in the phase, not {}",
        ORDERS * 5
    );
    let mut latencies = read_latencies(js, first_seq).await?;
    latencies.sort();
    let pct = |p: f64| latencies[((latencies.len() as f64 - 1.0) * p) as usize];
    Ok(Phase {
        rate: (ORDERS * 4) as f64 / elapsed.as_secs_f64(),
        p50: pct(0.50),
        p99: pct(0.99),
        max: *latencies.last().context("no events")?,
        cpu_per_transition: cpu.machine / (ORDERS * 4) as u32,
        others_share: cpu.others_share(window)?,
    })
}

async fn last_sequence(js: &async_nats::jetstream::Context) -> anyhow::Result<u64> {
    Ok(js
        .get_stream("ORDERS")
        .await?
        .info()
        .await?
        .state
        .last_sequence)
}

/// `CLIENTS` clients, each walking its share of the orders through their lives back to back.
async fn drive_closed_loop(http: OrdersApi, ids: Vec<Uuid>) -> anyhow::Result<Duration> {
    let started = Instant::now();
    for client in http.spawn_clients(&ids, CLIENTS, &ACTIONS) {
        client.await??;
    }
    Ok(started.elapsed())
}

/// Open loop: one transition starts every 1/`STEADY_RATE` s whatever the answers' speed (late
/// ticks are caught up), each on an order whose previous transition has finished.
async fn drive_at_rate(http: OrdersApi, ids: Vec<Uuid>) -> anyhow::Result<Duration> {
    let (ready_tx, mut ready) = tokio::sync::mpsc::unbounded_channel();
    for id in &ids {
        ready_tx.send((*id, 0usize))?;
    }
    let mut ticker = tokio::time::interval(Duration::from_secs_f64(1.0 / STEADY_RATE));
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let started = Instant::now();
    let mut in_flight = tokio::task::JoinSet::new();
    for _ in 0..ids.len() * ACTIONS.len() {
        ticker.tick().await;
        let (id, next) = ready.recv().await.context("no order ready")?;
        let (http, ready_tx) = (http.clone(), ready_tx.clone());
        in_flight.spawn(async move {
            http.transition(id, ACTIONS[next]).await?;
            if next + 1 < ACTIONS.len() {
                ready_tx.send((id, next + 1))?;
            }
            anyhow::Ok(())
        });
        while let Some(done) = in_flight.try_join_next() {
            done??;
        }
    }
    while let Some(done) = in_flight.join_next().await {
        done??;
    }
    Ok(started.elapsed())
}

/// Per transition, its status-changed event's commit time to the time JetStream stored it.
async fn read_latencies(
    js: &async_nats::jetstream::Context,
    first_seq: u64,
) -> anyhow::Result<Vec<Duration>> {
    // One pull consumer reads the phase back in bulk; each message knows when it was stored. Not
    // an ordered consumer: its client-side reset once left a run waiting forever for messages
    // the stream held.
    let consumer = js
        .get_stream("ORDERS")
        .await?
        .create_consumer(pull::Config {
            deliver_policy: DeliverPolicy::ByStartSequence {
                start_sequence: first_seq,
            },
            ack_policy: AckPolicy::None,
            ..Default::default()
        })
        .await?;
    let mut messages = consumer.messages().await?;
    let mut latencies = Vec::new();
    // Per order: confirmed + status changed, then one status change per process, ship, deliver.
    for read in 0..ORDERS * 5 {
        let Ok(next) = tokio::time::timeout(Duration::from_secs(10), messages.next()).await else {
            anyhow::bail!(
                "no message from the ORDERS stream for 10 s: read {read} of {}",
                ORDERS * 5
            );
        };
        let message = next.context("stream ended early")??;
        let schema = message
            .headers
            .as_ref()
            .and_then(|h| h.get(orderflow_events::headers::SCHEMA))
            .map(|v| v.as_str().to_owned())
            .unwrap_or_default();
        let event = orderflow_events::decode_by_schema(&schema, &message.payload)?;
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
    anyhow::ensure!(
        latencies.len() == ORDERS * 4,
        "expected {} status changes, found {}",
        ORDERS * 4,
        latencies.len()
    );
    Ok(latencies)
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
