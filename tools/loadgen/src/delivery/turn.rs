//! One system's turn: fresh servers, N connections, memory before and after connecting, a
//! paced phase (deliveries/s, CPU per delivery, latency), a saturation phase (deliveries/s as
//! fast as the system keeps up), and the check that every client got every event meant for it.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use super::clients::{self, Plan};
use super::servers::{self, Servers};
use super::{DeliveryConfig, Env, Mode, System};
use crate::error::Error;
use crate::latency::{self, Stats};
use crate::procfs;
use crate::publish::{self, Acked};

/// The last deliveries of a phase are waited for at most this long ...
const DRAIN_MAX: Duration = Duration::from_secs(10);
/// ... or until none arrived for this long.
const DRAIN_QUIET: Duration = Duration::from_secs(2);
/// Saturation keeps at most this many deliveries published but not yet delivered (at least 8
/// events): enough that the pipeline never runs dry, few enough that no queue overflows, so
/// the phase measures what a system sustains rather than how much it can buffer.
const SATURATION_WINDOW: u64 = 20_000;

/// What one phase of publishing measured.
#[derive(Clone, Debug, Default)]
pub struct PhaseFigures {
    /// Events acknowledged by JetStream.
    pub published: u64,
    /// Deliveries those events were meant to make.
    pub expected: u64,
    /// Deliveries counted by the clients from the phase's start to the end of its drain.
    pub delivered: u64,
    /// From the first publish to the last delivery, in seconds.
    pub active_secs: f64,
    /// CPU seconds of each server process (same order as [`TurnFigures::processes`]).
    pub cpu: Vec<f64>,
    /// CPU seconds of the load generator (publisher and clients).
    pub loadgen_cpu: f64,
}

impl PhaseFigures {
    /// Deliveries per second.
    pub fn rate(&self) -> f64 {
        self.delivered as f64 / self.active_secs.max(f64::EPSILON)
    }

    /// CPU seconds per 100,000 deliveries of the processes `which` (indices into `cpu`).
    pub fn cpu_per_100k(&self, which: impl IntoIterator<Item = usize>) -> f64 {
        let cpu: f64 = which.into_iter().filter_map(|i| self.cpu.get(i)).sum();
        cpu / self.delivered.max(1) as f64 * 100_000.0
    }
}

/// What one turn measured.
#[derive(Clone, Debug, Default)]
pub struct TurnFigures {
    /// Connections attempted, and opened.
    pub connections: usize,
    pub opened: usize,
    /// Time to open them all.
    pub open_time: Duration,
    /// The first failure to open, if any.
    pub open_error: Option<String>,
    /// Server processes, the system's own first (gateway, floor, or nats-server for its own
    /// clients), then its nats-server.
    pub processes: Vec<&'static str>,
    /// Resident KiB of each process before connections and with them, idle.
    pub rss_before: Vec<u64>,
    pub rss_idle: Vec<u64>,
    /// Paced at the target delivery rate.
    pub paced: PhaseFigures,
    /// Latency publish → client of the paced phase's deliveries: p50, p99, max in ms.
    pub latency_ms: [f64; 3],
    /// The gateway's own part of that latency (event translated → frame written): p50, p99
    /// and max as bucket bounds of its histogram in ms; `None` for the other systems.
    pub own_latency_ms: Option<[f64; 3]>,
    /// WebSocket payload bytes the clients received per delivery in the paced phase.
    pub bytes_per_delivery: f64,
    /// As fast as the system keeps up.
    pub saturation: PhaseFigures,
    /// Over the whole turn, summed over clients: deliveries a client should have had and did
    /// not, and deliveries beyond what it should have had.
    pub missing: u64,
    pub extra: u64,
    /// Connections the server ended during the measurements.
    pub closed: u64,
    /// Deliveries whose `updatedAt` could not be read.
    pub undated: u64,
}

impl TurnFigures {
    /// Resident KiB per idle connection of process `i`.
    pub fn rss_per_connection(&self, i: usize) -> f64 {
        let (Some(before), Some(idle)) = (self.rss_before.get(i), self.rss_idle.get(i)) else {
            return f64::NAN;
        };
        idle.saturating_sub(*before) as f64 / self.opened.max(1) as f64
    }

    /// Indices of every process (the system's own plus its nats-server).
    pub fn all(&self) -> std::ops::Range<usize> {
        0..self.processes.len()
    }
}

/// Runs `system`'s turn in `mode`.
pub(crate) async fn run(
    cfg: &DeliveryConfig,
    env: &Env,
    mode: Mode,
    system: System,
) -> Result<TurnFigures, Error> {
    let servers = Servers::start(cfg, mode, system).await?;
    tokio::time::sleep(cfg.warm_up).await;
    let pids = servers.pids();
    let n = cfg.connections;
    let mut f = TurnFigures {
        connections: n,
        processes: pids.iter().map(|(name, _)| *name).collect(),
        rss_before: servers::rss(&pids)?,
        ..TurnFigures::default()
    };

    let plan = Arc::new(Plan::new(
        system,
        mode,
        servers.addr()?,
        env.sources.clone(),
        env.http.clone(),
        n,
        cfg.per_customer,
    ));
    let stats = Arc::new(Stats::new(n));
    let started = Instant::now();
    let (open, readers, error) = clients::open_all(&plan, &stats, n, cfg.open_concurrency).await;
    f.open_time = started.elapsed();
    f.opened = open.iter().filter(|o| **o).count();
    f.open_error = error.map(|e| e.to_string());
    if f.opened == 0 {
        let log = servers
            .gateway_log()
            .map(|l| format!(" (log: {})", l.display()));
        return Err(Error::Delivery(format!(
            "no connection opened: {}{}",
            f.open_error.as_deref().unwrap_or("?"),
            log.unwrap_or_default()
        )));
    }
    tokio::time::sleep(cfg.settle).await;
    f.rss_idle = servers::rss(&pids)?;

    let expected_of = |acked: &[Acked]| plan.expected(acked, &open);
    let fan_out = plan.fan_out(f.opened);
    let js = &servers.backend.js;

    let own_before = servers.gateway_latency().await?;
    stats.recording.store(true, Ordering::Relaxed);
    let bytes_before = stats.bytes.load(Ordering::Relaxed);
    let rate = cfg.rate as f64 / fan_out;
    let paced = publish::drive(js, &plan.customers, rate, tokio::time::sleep(cfg.duration));
    let (paced, mut acked) = measure(&pids, &stats, paced, &expected_of).await?;
    f.paced = paced;
    stats.recording.store(false, Ordering::Relaxed);
    let bytes = stats.bytes.load(Ordering::Relaxed) - bytes_before;
    f.bytes_per_delivery = bytes as f64 / f.paced.delivered.max(1) as f64;
    let latencies = stats.take_sorted_latencies();
    f.latency_ms = [0.5, 0.99, 1.0].map(|p| latency::percentile_ms(&latencies, p));
    if let (Some(before), Some(after)) = (own_before, servers.gateway_latency().await?) {
        let paced = after.since(&before);
        if let [Some(p50), Some(p99), Some(max)] = [0.5, 0.99, 1.0].map(|p| paced.bound_ms(p)) {
            f.own_latency_ms = Some([p50, p99, max]);
        }
    }

    let window = (SATURATION_WINDOW as f64 / fan_out).max(8.0) as u64;
    let base = stats.delivered.load(Ordering::Relaxed);
    let allowed = || {
        let delivered = stats.delivered.load(Ordering::Relaxed) - base;
        (delivered as f64 / fan_out) as u64 + window
    };
    let flood = publish::flood(
        js,
        &plan.customers,
        allowed,
        tokio::time::sleep(cfg.saturation),
    );
    let (saturation, flooded) = measure(&pids, &stats, flood, &expected_of).await?;
    f.saturation = saturation;
    acked.extend(flooded);

    let got = stats.per_client();
    for (expected, got) in expected_of(&acked).iter().zip(&got) {
        let got = u64::from(*got);
        f.missing += expected.saturating_sub(got);
        f.extra += got.saturating_sub(*expected);
    }
    f.closed = stats.closed.load(Ordering::Relaxed);
    f.undated = stats.undated.load(Ordering::Relaxed);

    // Servers first: the clients then close after them and keep no TIME_WAIT ports.
    drop(servers);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    for reader in readers {
        let abort = reader.abort_handle();
        if tokio::time::timeout_at(deadline, reader).await.is_err() {
            abort.abort();
        }
    }
    Ok(f)
}

/// Runs `publishing` and waits for its deliveries (all expected, or quiet, or the bound);
/// returns the phase's figures and what was acknowledged.
async fn measure(
    pids: &[(&'static str, u32)],
    stats: &Stats,
    publishing: impl Future<Output = Result<Vec<Acked>, Error>>,
    expected_of: &impl Fn(&[Acked]) -> Vec<u64>,
) -> Result<(PhaseFigures, Vec<Acked>), Error> {
    let cpu_before = servers::cpu(pids)?;
    let own_before = procfs::own_cpu_seconds()?;
    let base = stats.delivered.load(Ordering::Relaxed);
    let start = Instant::now();
    let acked = publishing.await?;
    let expected: u64 = expected_of(&acked).iter().sum();
    let delivered = || stats.delivered.load(Ordering::Relaxed) - base;
    let deadline = Instant::now() + DRAIN_MAX;
    let mut last = (delivered(), Instant::now());
    while delivered() < expected && Instant::now() < deadline {
        if delivered() != last.0 {
            last = (delivered(), Instant::now());
        } else if last.1.elapsed() > DRAIN_QUIET {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let cpu_after = servers::cpu(pids)?;
    let figures = PhaseFigures {
        published: acked.len() as u64,
        expected,
        delivered: delivered(),
        active_secs: stats
            .last_delivery()
            .saturating_duration_since(start)
            .as_secs_f64(),
        cpu: cpu_after
            .iter()
            .zip(&cpu_before)
            .map(|(a, b)| a - b)
            .collect(),
        loadgen_cpu: procfs::own_cpu_seconds()? - own_before,
    };
    Ok((figures, acked))
}
