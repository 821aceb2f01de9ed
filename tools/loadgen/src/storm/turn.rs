//! One system's turn in a round: fresh customers and clients, all connected, events flowing
//! for the warm-up, every socket reset at once, everyone reconnecting, then the ledger check.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use orderflow_auth::dev::{self, DevClaims};
use tokio::sync::{oneshot, watch};
use tokio::task::JoinHandle;
use uuid::Uuid;

use super::clients::{self, Attempts, ClientLog, Phase, Shared};
use super::targets::{FloorTarget, GatewayTarget, NatsTarget};
use super::{Env, StormConfig, System};
use crate::error::Error;
use crate::ledger::{self, Ledger, Tally};
use crate::signalr::HubProtocol;
use crate::{procfs, publish};

/// How long all clients may take to connect the first time, per 1,000 clients.
const CONNECT_TIME_PER_1000: Duration = Duration::from_secs(15);
/// The last deliveries are waited for until this long passes without one.
const DELIVERY_QUIET: Duration = Duration::from_secs(2);
/// ... and at most this long.
const DELIVERY_MAX: Duration = Duration::from_secs(20);

/// What one turn measured.
#[derive(Debug)]
pub struct TurnFigures {
    pub clients: usize,
    /// Time to connect every client the first time (bounded by `--open-concurrency`).
    pub connect_time: Duration,
    /// Per client that came back: storm start → back, sorted.
    pub back: Vec<Duration>,
    /// The slowest client's back time, if every client came back.
    pub all_back: Option<Duration>,
    /// Attempts of the first connects.
    pub first: Attempts,
    /// Attempts from the storm on.
    pub storm: Attempts,
    /// Connections the server ended on its own.
    pub unplanned_closes: u64,
    /// Gateway only: the storm reconnects' (negotiate + socket + handshake) and
    /// (handshake → `Resumed`) times, each sorted.
    pub phases: (Vec<Duration>, Vec<Duration>),
    /// Events acknowledged by JetStream during the turn (none for the floor).
    pub published: usize,
    /// Receipts checked against the ledger (none for the floor).
    pub ledger: Option<Tally>,
    /// CPU seconds per process from the storm's start until every client was back (or the
    /// back timeout), servers first, then `loadgen` (the clients).
    pub cpu: Vec<(&'static str, f64)>,
}

/// Clients of a turn; dropping it (on an error path) tells them to stop.
struct Crowd {
    tasks: Vec<JoinHandle<ClientLog>>,
    phase: watch::Sender<Phase>,
    shared: Arc<Shared>,
}

impl Crowd {
    async fn stop(mut self) -> Vec<ClientLog> {
        let _ = self.phase.send(Phase::Stop);
        let mut logs = Vec::with_capacity(self.tasks.len());
        for task in std::mem::take(&mut self.tasks) {
            logs.push(task.await.unwrap_or_default());
        }
        logs
    }
}

impl Drop for Crowd {
    fn drop(&mut self) {
        let _ = self.phase.send(Phase::Stop);
    }
}

/// Runs `system`'s turn.
pub(crate) async fn run(
    env: &Env,
    cfg: &StormConfig,
    system: System,
) -> Result<TurnFigures, Error> {
    let n = cfg.clients;
    let customers: Vec<Uuid> = (0..n).map(|_| Uuid::now_v7()).collect();
    let start = env.backend.orders_last_sequence().await?;
    let (phase, phase_rx) = watch::channel(Phase::Run);
    let shared = Arc::new(Shared::new(phase_rx, cfg.open_concurrency, cfg.away));
    let sources = env.sources.clone();
    let connect_start = Instant::now();
    let tasks = match system {
        System::Gateway | System::GatewayMp => {
            let gateway = env.gateway.as_ref().ok_or(missing("gateway"))?;
            let tokens = customers
                .iter()
                .map(|c| dev::issue_hs256(dev::SECRET, DevClaims::new(*c).name("Storm")))
                .collect();
            let target = GatewayTarget {
                addr: gateway.addr(),
                sources,
                http: env.http.clone(),
                tokens,
                start,
                protocol: system.hub_protocol().unwrap_or(HubProtocol::Json),
            };
            clients::spawn(Arc::new(target), n, &shared)
        }
        System::Nats => {
            let addr = env.backend.websocket_addr().ok_or(missing("websocket"))?;
            let target = NatsTarget {
                addr,
                sources,
                customers: customers.clone(),
            };
            clients::spawn(Arc::new(target), n, &shared)
        }
        System::Floor => {
            let floor = env.floor.as_ref().ok_or(missing("floor"))?;
            let target = FloorTarget {
                addr: floor.addr(),
                sources,
            };
            clients::spawn(Arc::new(target), n, &shared)
        }
    };
    let crowd = Crowd {
        tasks,
        phase,
        shared,
    };

    let limit = CONNECT_TIME_PER_1000 * (n.div_ceil(1000) as u32) + Duration::from_secs(15);
    if !wait_for(&crowd.shared.connected, n, limit).await {
        let connected = crowd.shared.connected.load(Ordering::Relaxed);
        return Err(Error::Storm(format!(
            "{connected} of {n} clients connected after {} s (connected = {})",
            limit.as_secs(),
            system.back_signal()
        )));
    }
    let connect_time = connect_start.elapsed();

    // Publishing starts once everyone is connected, so that every event of the turn is one
    // each client must get (nats-server cannot give a client what it published before the
    // client subscribed).
    let (stop_publishing, stop) = oneshot::channel::<()>();
    let publisher = (system != System::Floor).then(|| {
        let (js, customers, rate) = (env.backend.js.clone(), customers.clone(), cfg.rate);
        tokio::spawn(async move {
            publish::drive(&js, &customers, rate as f64, async {
                let _ = stop.await;
            })
            .await
        })
    });
    tokio::time::sleep(cfg.warm_up).await;

    let pids = env.pids(system);
    let cpu_before = cpu(&pids)?;
    let storm_start = Instant::now();
    let _ = crowd.phase.send(Phase::Drop(storm_start));
    wait_for(&crowd.shared.back, n, cfg.away + cfg.back_timeout).await;
    let cpu_after = cpu(&pids)?;

    tokio::time::sleep(cfg.settle).await;
    let _ = stop_publishing.send(());
    let acked = match publisher {
        Some(task) => task
            .await
            .map_err(|e| Error::Nats(format!("publisher: {e}")))??,
        None => Vec::new(),
    };
    let ledger = Ledger::new(n, &acked);
    wait_for_deliveries(&crowd.shared, ledger.total() as u64).await;
    let logs = crowd.stop().await;

    let mut figures = TurnFigures {
        clients: n,
        connect_time,
        back: logs.iter().filter_map(|l| l.back_after).collect(),
        all_back: None,
        first: Attempts::default(),
        storm: Attempts::default(),
        unplanned_closes: logs.iter().map(|l| l.unplanned_closes).sum(),
        phases: logs.iter().filter_map(|l| l.phases).unzip(),
        published: acked.len(),
        ledger: None,
        cpu: pids
            .iter()
            .zip(cpu_before.iter().zip(&cpu_after))
            .map(|((name, _), (b, a))| (*name, a - b))
            .collect(),
    };
    figures.back.sort_unstable();
    figures.phases.0.sort_unstable();
    figures.phases.1.sort_unstable();
    if figures.back.len() == n {
        figures.all_back = figures.back.last().copied();
    }
    for log in &logs {
        figures.first += log.first;
        figures.storm += log.storm;
    }
    if system != System::Floor {
        let mut tally = Tally::default();
        for (i, log) in logs.iter().enumerate() {
            tally += ledger::check(ledger.expected(i, start), &log.seen);
        }
        figures.ledger = Some(tally);
    }
    Ok(figures)
}

fn missing(what: &str) -> Error {
    Error::Storm(format!("{what} server not started"))
}

/// Waits until `counter` reaches `n` or `limit` passes; whether it did.
async fn wait_for(counter: &std::sync::atomic::AtomicUsize, n: usize, limit: Duration) -> bool {
    let deadline = Instant::now() + limit;
    while counter.load(Ordering::Relaxed) < n {
        if Instant::now() > deadline {
            return false;
        }
        // Back times are taken by each client itself; this only decides when to move on.
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    true
}

/// Waits until the clients received `expected` events, or none arrived for a while (nats-server
/// clients never get what core NATS dropped during the storm).
async fn wait_for_deliveries(shared: &Shared, expected: u64) {
    let deadline = Instant::now() + DELIVERY_MAX;
    let mut last = (shared.events.load(Ordering::Relaxed), Instant::now());
    while Instant::now() < deadline {
        let now = shared.events.load(Ordering::Relaxed);
        if now >= expected {
            return;
        }
        if now != last.0 {
            last = (now, Instant::now());
        } else if last.1.elapsed() > DELIVERY_QUIET {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// CPU seconds of each process in `pids`, in order.
fn cpu(pids: &[(&'static str, u32)]) -> Result<Vec<f64>, Error> {
    pids.iter()
        .map(|(_, pid)| procfs::cpu_seconds(*pid))
        .collect()
}
