//! `orderflow-bench inventory` (`cargo xtask bench inventory`): how fast inventory reserves
//! stock for a burst of confirmed orders, end to end through the real orders service, JetStream
//! and the inbox consumer.
//!
//! Runs orders and inventory in-process (build with `--release`) on a durable PostgreSQL
//! (fsync on) and a real nats-server. Creates the draft orders first (not measured), then
//! confirms them all over HTTP as fast as 32 clients can (orders spread over 12 products) and
//! waits until every reservation has committed. Prints the confirm rate the orders service
//! sustained, reservations/s (first confirm commit to last reservation commit), the lag per
//! event (orders' commit to inventory's decision: p50, p99, max; split into the orders relay's
//! part and the consumer's; p99 per second of the burst) and the consumer's pending count
//! sampled during the burst. Then the consumer's ceiling: as many orders again are confirmed
//! with the consumer stopped, and the rate at which it drains that backlog is printed.
//! Runs the services from their library crates (no binaries to build first).

use std::time::{Duration, Instant};

use anyhow::Context as _;
use orderflow_auth::{AuthSettings, dev};
use orderflow_inventory::domain::{Money, NewProduct, Sku as InventorySku};
use orderflow_inventory::{Config as InventoryConfig, InventoryApp};
use orderflow_orders::domain::{Quantity, Sku};
use orderflow_orders::service::{Actor, LineRequest, OrderService};
use orderflow_orders::{Config as OrdersConfig, OrdersApp};
use orderflow_test_support::{NatsServer, PgCluster};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::step;
use crate::support::{OrdersApi, bench_admin, create_database, serve};

/// Orders confirmed in the burst.
const ORDERS: usize = 5_000;
/// Concurrent HTTP clients confirming.
const CLIENTS: usize = 32;
/// Inventory's consumer workers (`INVENTORY_CONSUMER_WORKERS`).
const WORKERS: u16 = 2;
/// Units each order reserves.
const UNITS: u32 = 2;
/// Products the orders spread over (round robin), as a real catalog would; all on one sku
/// would serialise every reservation on one row lock held until each commit's disk flush.
const SKUS: usize = 12;

fn sku(i: usize) -> String {
    format!("BENCH-INV-{}", i % SKUS)
}

/// Runs the benchmark and prints its figures.
pub fn run() -> anyhow::Result<()> {
    let scratch = tempfile::tempdir()?;
    let pg = PgCluster::start_in(scratch.path(), None)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let figures = runtime.block_on(drive(&pg.url()))?;
    let f = figures;
    let ms = |s: f64| s * 1e3;
    let windows: Vec<String> = f
        .per_second
        .iter()
        .map(|l| format!("{:.0}", ms(*l)))
        .collect();
    println!(
        "\n== inventory benchmark ({ORDERS} orders over {SKUS} products confirmed by {CLIENTS} \
         HTTP clients, {WORKERS} consumer workers) ==
orders confirms/s (HTTP):      {:.0}
reservations/s (end to end):   {:.0}
consumer lag p50 / p99 / max:  {:.1} / {:.1} / {:.1} ms
lag split p50 / p99:           orders relay (commit -> stored) {:.1} / {:.1} ms, \
         inventory (stored -> decided) {:.1} / {:.1} ms
lag p99 per second of burst:   {} ms
consumer pending p99 / max:    {} / {}
backlog drain, reservations/s: {:.0} ({ORDERS} confirmed while the consumer was stopped)",
        f.confirms_per_s,
        f.reservations_per_s,
        ms(f.lag_p50),
        ms(f.lag_p99),
        ms(f.lag_max),
        ms(f.split.relay.0),
        ms(f.split.relay.1),
        ms(f.split.consumer.0),
        ms(f.split.consumer.1),
        windows.join(", "),
        f.pending_p99,
        f.pending_max,
        f.drain_per_s,
    );
    drop(pg);
    Ok(())
}

struct Figures {
    confirms_per_s: f64,
    reservations_per_s: f64,
    lag_p50: f64,
    lag_p99: f64,
    lag_max: f64,
    pending_p99: u64,
    pending_max: u64,
    split: Split,
    per_second: Vec<f64>,
    drain_per_s: f64,
}

async fn wait_for(
    what: &str,
    timeout: Duration,
    mut done: impl AsyncFnMut() -> anyhow::Result<bool>,
) -> anyhow::Result<()> {
    let deadline = Instant::now() + timeout;
    while !done().await? {
        anyhow::ensure!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Ok(())
}

async fn drive(pg_url: &str) -> anyhow::Result<Figures> {
    step("Starting nats-server, the orders and the inventory service");
    let nats = NatsServer::start().await;
    let auth = AuthSettings::hs256(dev::ISSUER, dev::AUDIENCE, dev::SECRET);
    let orders = OrdersApp::connect(OrdersConfig {
        listen: "127.0.0.1:0".parse()?,
        database_url: create_database(pg_url, "orders_inv_bench").await?.into(),
        db_max_connections: 40,
        common: orderflow_service::Settings::local(nats.url(), auth.clone()),
    })
    .await?;
    let inventory = InventoryApp::connect(InventoryConfig {
        listen: "127.0.0.1:0".parse()?,
        database_url: create_database(pg_url, "inventory_bench").await?.into(),
        db_max_connections: 16,
        consumer_workers: WORKERS,
        common: orderflow_service::Settings::local(nats.url(), auth),
    })
    .await?;
    let shutdown = CancellationToken::new();
    // The consumers run on their own token so that the drain phase can stop and restart them.
    let consumers = shutdown.child_token();
    inventory.spawn_relay(&shutdown);
    inventory.spawn_consumers(&consumers);
    orders.spawn_background(&shutdown);
    let base = serve(orders.router(), &shutdown).await?;

    step(&format!(
        "Creating {SKUS} products in inventory and {ORDERS} draft orders (not measured)"
    ));
    let stock = i64::from(UNITS) * ORDERS as i64;
    for i in 0..SKUS {
        inventory
            .catalog()
            .create(NewProduct {
                sku: InventorySku::parse(&sku(i))?,
                name: format!("Bench item {i}"),
                unit_price: Money(1_000),
                stock_level: stock,
                low_stock_threshold: 10,
            })
            .await?;
    }
    let orders_pool = orders.pool.clone();
    wait_for(
        "the products to reach the orders catalog",
        Duration::from_secs(30),
        async || {
            let n: i64 = sqlx::query_scalar("SELECT count(*) FROM catalog_products")
                .fetch_one(&orders_pool)
                .await?;
            Ok(n == SKUS as i64)
        },
    )
    .await?;
    let (admin, actor) = bench_admin();
    let service = orders.orders();
    let ids = create_drafts(&service, &actor).await?;
    wait_for(
        "the orders outbox to drain",
        Duration::from_secs(120),
        async || Ok(orderflow_outbox::pending_count(&orders.pool).await? == 0),
    )
    .await?;

    step("Confirming every order over HTTP and waiting for every reservation");
    let js = inventory.jetstream();
    let mut stream = js.get_stream(orderflow_events::streams::ORDERS).await?;
    let first_seq = stream.info().await?.state.last_sequence + 1;
    let api = OrdersApi::admin(&base, admin, CLIENTS)?;
    let started = Instant::now();
    let workers = api.spawn_clients(&ids, CLIENTS, &["confirm"]);
    let mut pending = Vec::new();
    let mut confirms_elapsed = None;
    let deadline = Instant::now() + Duration::from_secs(600);
    loop {
        if confirms_elapsed.is_none() && workers.iter().all(|w| w.is_finished()) {
            confirms_elapsed = Some(started.elapsed());
        }
        let info = stream
            .consumer_info(orderflow_inventory::reservations::CONSUMER)
            .await?;
        pending.push(info.num_pending);
        let reserved: i64 =
            sqlx::query_scalar("SELECT count(*) FROM order_reservations WHERE status = 'reserved'")
                .fetch_one(&inventory.pool)
                .await?;
        if reserved as usize == ORDERS {
            break;
        }
        anyhow::ensure!(
            Instant::now() < deadline,
            "only {reserved} of {ORDERS} reservations after 10 minutes"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    for w in workers {
        w.await??;
    }
    let confirms_elapsed = confirms_elapsed.unwrap_or_else(|| started.elapsed());

    let (span, p50, p99, max): (f64, f64, f64, f64) = sqlx::query_as(
        "SELECT extract(epoch FROM max(decided_at) - min(event_committed_at))::float8,
                percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM decided_at - event_committed_at))::float8,
                percentile_cont(0.99) WITHIN GROUP (ORDER BY extract(epoch FROM decided_at - event_committed_at))::float8,
                max(extract(epoch FROM decided_at - event_committed_at))::float8
         FROM order_reservations WHERE status = 'reserved'",
    )
    .fetch_one(&inventory.pool)
    .await?;
    let split = split_lag(&js, first_seq, &inventory.pool).await?;
    // Lag p99 per second of the burst (by the confirm's commit time): flat if inventory keeps
    // up, rising if a backlog builds.
    let per_second: Vec<f64> = sqlx::query_scalar(
        "SELECT percentile_cont(0.99) WITHIN GROUP
                (ORDER BY extract(epoch FROM decided_at - event_committed_at))::float8
         FROM order_reservations WHERE status = 'reserved'
         GROUP BY floor(extract(epoch FROM event_committed_at))
         ORDER BY floor(extract(epoch FROM event_committed_at))",
    )
    .fetch_all(&inventory.pool)
    .await?;
    step(&format!(
        "Backlog drain: {ORDERS} more orders confirmed with the consumer stopped, then started"
    ));
    consumers.cancel();
    let ids = create_drafts(&service, &actor).await?;
    for w in api.spawn_clients(&ids, CLIENTS, &["confirm"]) {
        w.await??;
    }
    wait_for(
        "the confirmations to reach JetStream",
        Duration::from_secs(120),
        async || Ok(orderflow_outbox::pending_count(&orders.pool).await? == 0),
    )
    .await?;
    let pool = inventory.pool.clone();
    let reserved = async move || -> anyhow::Result<usize> {
        let sql = "SELECT count(*) FROM order_reservations WHERE status = 'reserved'";
        let n: i64 = sqlx::query_scalar(sql).fetch_one(&pool).await?;
        Ok(n as usize)
    };
    anyhow::ensure!(reserved().await? == ORDERS, "the stopped consumer reserved");
    let drain_started = Instant::now();
    inventory.spawn_consumers(&shutdown);
    let drained = async || Ok(reserved().await? == 2 * ORDERS);
    wait_for("the backlog to drain", Duration::from_secs(300), drained).await?;
    let drain_per_s = ORDERS as f64 / drain_started.elapsed().as_secs_f64();
    let left: i64 = sqlx::query_scalar("SELECT sum(stock_level)::bigint FROM products")
        .fetch_one(&inventory.pool)
        .await?;
    let expected = stock * SKUS as i64 - i64::from(UNITS) * 2 * ORDERS as i64;
    anyhow::ensure!(
        left == expected,
        "{left} units left in stock, expected {expected}"
    );
    shutdown.cancel();
    pending.sort_unstable();
    let pct = |p: f64| pending[((pending.len() as f64 - 1.0) * p) as usize];
    Ok(Figures {
        confirms_per_s: ORDERS as f64 / confirms_elapsed.as_secs_f64(),
        reservations_per_s: ORDERS as f64 / span,
        lag_p50: p50,
        lag_p99: p99,
        lag_max: max,
        pending_p99: pct(0.99),
        pending_max: *pending.last().context("no samples")?,
        split,
        per_second,
        drain_per_s,
    })
}

/// Creates `ORDERS` draft orders (round robin over the products) through the service.
async fn create_drafts(service: &OrderService, actor: &Actor) -> anyhow::Result<Vec<Uuid>> {
    let mut ids = Vec::with_capacity(ORDERS);
    for i in 0..ORDERS {
        let line = [LineRequest {
            sku: Sku::parse(&sku(i))?,
            quantity: Quantity::new(UNITS).context("qty")?,
        }];
        ids.push(service.create(actor, &line, None).await?.0.id.0);
    }
    Ok(ids)
}

/// p50 and p99 of the two parts of the lag: orders' commit → JetStream stored (the orders
/// outbox relay) and stored → inventory's decision (the consumer), per reserved order.
struct Split {
    relay: (f64, f64),
    consumer: (f64, f64),
}

async fn split_lag(
    js: &async_nats::jetstream::Context,
    first_seq: u64,
    pool: &sqlx::PgPool,
) -> anyhow::Result<Split> {
    use async_nats::jetstream::consumer::{DeliverPolicy, pull};
    use futures::StreamExt as _;
    use std::collections::HashMap;
    let decided: HashMap<Uuid, (time::OffsetDateTime, time::OffsetDateTime)> =
        sqlx::query_as::<_, (Uuid, time::OffsetDateTime, time::OffsetDateTime)>(
            "SELECT order_id, event_committed_at, decided_at FROM order_reservations
             WHERE status = 'reserved'",
        )
        .fetch_all(pool)
        .await?
        .into_iter()
        .map(|(id, committed, decided)| (id, (committed, decided)))
        .collect();
    // One ordered consumer reads the burst's confirmations back; each knows when it was stored.
    let consumer = js
        .get_stream(orderflow_events::streams::ORDERS)
        .await?
        .create_consumer(pull::OrderedConfig {
            deliver_policy: DeliverPolicy::ByStartSequence {
                start_sequence: first_seq,
            },
            filter_subject: "orders.v1.*.*.confirmed".to_owned(),
            ..Default::default()
        })
        .await?;
    let mut messages = consumer.messages().await?;
    let (mut relay, mut consumed) = (Vec::new(), Vec::new());
    while relay.len() < ORDERS {
        let message = tokio::time::timeout(Duration::from_secs(10), messages.next())
            .await
            .context("reading the confirmations back")?
            .context("stream ended")?
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        let order: Uuid = message
            .subject
            .split('.')
            .nth(3)
            .context("subject without an order id")?
            .parse()?;
        let stored = message
            .info()
            .map_err(|e| anyhow::anyhow!("{e}"))?
            .published;
        let (committed, decided) = decided.get(&order).context("an unknown order")?;
        relay.push((stored - *committed).as_seconds_f64());
        consumed.push((*decided - stored).as_seconds_f64());
    }
    let p = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        let at = |q: f64| v[((v.len() as f64 - 1.0) * q) as usize];
        (at(0.5), at(0.99))
    };
    Ok(Split {
        relay: p(&mut relay),
        consumer: p(&mut consumed),
    })
}
