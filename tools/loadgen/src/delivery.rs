//! The delivery benchmark (issue 4, "Speed and memory"): starts nats-server with the real
//! streams and the built `gateway` binary as a child process, holds N authenticated SignalR
//! connections from several 127.0.0.x source addresses, measures the gateway's resident memory
//! per idle connection, then publishes real `OrderStatusChanged` events at a target delivery
//! rate and reports deliveries/s, gateway CPU per 100k deliveries and publish→client latency.
//! Loopback only; every phase is bounded in time. Figures are recorded in `docs/benchmarks.md`.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use futures::StreamExt;
use orderflow_auth::dev::{self, DevClaims};
use uuid::Uuid;

use crate::backend::Backend;
use crate::error::Error;
use crate::gateway::{self, GatewayProcess};
use crate::latency::{self, Stats};
use crate::{net, procfs, publish, signalr};

/// Options of `orderflow-loadgen delivery`.
#[derive(clap::Args, Debug, Clone)]
pub struct DeliveryArgs {
    /// WebSocket connections to open and hold.
    #[arg(long, default_value_t = 5000)]
    pub connections: usize,
    /// Connections per customer (one event reaches all of a customer's connections).
    #[arg(long, default_value_t = 1)]
    pub per_customer: usize,
    /// Source addresses 127.0.0.2 .. 127.0.0.(1+k) the connections are spread over.
    #[arg(long, default_value_t = 8)]
    pub source_addrs: u8,
    /// Target deliveries per second during the drive phase.
    #[arg(long, default_value_t = 10_000)]
    pub rate: u64,
    /// Length of the drive phase in seconds.
    #[arg(long, default_value_t = 20)]
    pub duration: u64,
    /// Connections being opened at the same time.
    #[arg(long, default_value_t = 128)]
    pub open_concurrency: usize,
    /// The gateway binary (default: `gateway` next to this executable).
    #[arg(long)]
    pub gateway_bin: Option<PathBuf>,
}

/// Runs the delivery benchmark and prints its figures.
pub async fn run(args: DeliveryArgs) -> Result<(), Error> {
    // Sockets plus NATS, epoll, idle negotiate connections and the standard streams.
    procfs::check_file_limit(args.connections as u64 + 64)?;
    let bin = match args.gateway_bin {
        Some(b) => b,
        None => gateway::default_binary()?,
    };
    let per_customer = args.per_customer.max(1);

    let backend = Backend::start(false).await?;
    let addr = SocketAddr::new(
        IpAddr::V4(Ipv4Addr::LOCALHOST),
        orderflow_test_support::free_port(),
    );
    let log = std::env::temp_dir().join(format!("loadgen-gateway-{}.log", std::process::id()));
    let gw = GatewayProcess::start(&bin, addr, &backend.url(), per_customer, log).await?;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let rss_before = gw.rss_kib()?;
    println!(
        "gateway pid {} on {addr}, RSS before connections: {rss_before} KiB (log: {})",
        gw.pid(),
        gw.log.display()
    );

    // Customers and their tokens (one token per customer, several connections may share it).
    let customers: Vec<Uuid> = (0..args.connections.div_ceil(per_customer))
        .map(|_| Uuid::now_v7())
        .collect();
    let tokens: Vec<String> = customers
        .iter()
        .map(|c| dev::issue_hs256(dev::SECRET, DevClaims::new(*c).name("Load Test")))
        .collect();
    let sources = net::source_addrs(args.source_addrs);
    let http = net::http_clients(&sources)?;

    let stats = Arc::new(Stats::new());
    let opened = Instant::now();
    let results: Vec<Result<signalr::Ws, Error>> = futures::stream::iter(0..args.connections)
        .map(|i| {
            let s = i % sources.len();
            let (source, http, jwt) = (sources[s], &http[s], &tokens[i / per_customer]);
            async move { signalr::open(i, source, addr, http, jwt, None).await }
        })
        .buffer_unordered(args.open_concurrency.max(1))
        .collect()
        .await;
    let mut held = 0usize;
    let mut first_error = None;
    for r in results {
        match r {
            Ok(ws) => {
                held += 1;
                let stats = stats.clone();
                tokio::spawn(async move { latency::read_forever(ws, &stats).await });
            }
            Err(e) => {
                first_error.get_or_insert(e);
            }
        }
    }
    println!(
        "opened {held}/{} connections in {:.1} s",
        args.connections,
        opened.elapsed().as_secs_f64()
    );
    if let Some(e) = &first_error {
        println!("first failure: {e}");
    }
    if held == 0 {
        return Err(first_error.unwrap_or(Error::Gateway("no connection opened".into())));
    }
    // Let the gateway finish per-connection set-up (group subscriptions) before measuring.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let rss_held = gw.rss_kib()?;
    let per_connection = rss_held.saturating_sub(rss_before) as f64 / held as f64;

    // Drive phase.
    let events_per_second = (args.rate / per_customer as u64).max(1);
    stats.recording.store(true, Ordering::Relaxed);
    let cpu_start = gw.cpu_seconds()?;
    let drive_start = Instant::now();
    let published = publish::drive(
        &backend.js,
        &customers,
        events_per_second,
        tokio::time::sleep(Duration::from_secs(args.duration)),
    )
    .await?
    .len() as u64;
    // Bounded wait for the last deliveries.
    let expected = published * per_customer as u64;
    let drain_deadline = Instant::now() + Duration::from_secs(10);
    while stats.delivered.load(Ordering::Relaxed) < expected && Instant::now() < drain_deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let cpu = gw.cpu_seconds()? - cpu_start;
    let rss_after = gw.rss_kib()?;
    stats.recording.store(false, Ordering::Relaxed);
    let delivered = stats.delivered.load(Ordering::Relaxed);
    let active = stats
        .last_delivery()
        .saturating_duration_since(drive_start)
        .as_secs_f64();
    let latencies = stats.sorted_latencies();
    let pct = |p: f64| -> f64 {
        if latencies.is_empty() {
            return f64::NAN;
        }
        let i = ((latencies.len() as f64 * p).ceil() as usize).clamp(1, latencies.len()) - 1;
        latencies[i] as f64 / 1000.0
    };
    let still_held = held as u64 - stats.closed.load(Ordering::Relaxed);

    println!("--- gateway benchmark ---");
    println!("connections held:             {held} (still open after the drive: {still_held})");
    println!(
        "gateway RSS:                  {rss_before} KiB before, {rss_held} KiB with {held} connections"
    );
    println!("gateway RSS per connection:   {per_connection:.1} KiB (idle)");
    println!(
        "gateway RSS after the drive:  {rss_after} KiB ({:.1} KiB per connection)",
        rss_after.saturating_sub(rss_before) as f64 / held as f64
    );
    println!(
        "events published:             {published} ({events_per_second}/s target, {per_customer} connection(s) per customer)"
    );
    println!("deliveries:                   {delivered} of {expected} expected");
    println!(
        "deliveries/s:                 {:.0} (target {})",
        delivered as f64 / active.max(f64::EPSILON),
        args.rate
    );
    println!(
        "gateway CPU per 100k deliv.:  {:.2} s ({cpu:.2} s over the drive)",
        cpu / delivered.max(1) as f64 * 100_000.0
    );
    println!(
        "latency publish→client:       p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        pct(0.50),
        pct(0.99),
        pct(1.0)
    );
    drop(gw);
    drop(backend);
    Ok(())
}
