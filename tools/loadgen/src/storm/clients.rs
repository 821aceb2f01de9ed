//! The storm's clients: one task per client that connects, counts as back when its system says
//! so, records the stream positions it receives, and on the storm signal resets its socket and
//! reconnects at once. The three systems differ only in how a connection is opened and read
//! (see [`Target`] and `targets.rs`); the schedule is the same for all of them.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use tokio::net::TcpStream;
use tokio::sync::{Semaphore, watch};
use tokio::task::JoinHandle;

use crate::error::Error;
use crate::net;

/// A single open attempt (connect, upgrade, handshake, resume) that takes longer is abandoned
/// and retried.
const OPEN_TIMEOUT: Duration = Duration::from_secs(30);
/// Pause after a failed attempt: short, because the benchmark measures how fast a system takes
/// everyone back, not a client's back-off policy.
const RETRY_DELAY: Duration = Duration::from_millis(100);

/// What the controller tells every client.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Phase {
    /// Stay connected.
    Run,
    /// Reset the socket now (the instant is the storm's start) and reconnect.
    Drop(Instant),
    /// Reset the socket and end.
    Stop,
}

/// State every client of a turn shares with the controller.
pub(crate) struct Shared {
    phase: watch::Receiver<Phase>,
    /// Bounds the open attempts in flight (`--open-concurrency`).
    permits: Semaphore,
    /// Wait between the reset and the reconnect (`--away-ms`).
    away: Duration,
    /// Clients whose first connection is up.
    pub connected: AtomicUsize,
    /// Clients back after the storm.
    pub back: AtomicUsize,
    /// Events received by all clients (progress while waiting for the last deliveries).
    pub events: AtomicU64,
}

impl Shared {
    pub(crate) fn new(
        phase: watch::Receiver<Phase>,
        open_concurrency: usize,
        away: Duration,
    ) -> Self {
        Shared {
            phase,
            permits: Semaphore::new(open_concurrency.max(1)),
            away,
            connected: AtomicUsize::new(0),
            back: AtomicUsize::new(0),
            events: AtomicU64::new(0),
        }
    }
}

/// Outcomes of open attempts.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Attempts {
    /// Back with `Resumed {status: ok}` (gateway) or back at all (other systems).
    pub ok: u64,
    /// Back with `Resumed {status: reload}`.
    pub reload: u64,
    /// Back with another `Resumed` status.
    pub unexpected: u64,
    /// Failed or timed out, then retried.
    pub failed: u64,
}

impl std::ops::AddAssign for Attempts {
    fn add_assign(&mut self, o: Attempts) {
        self.ok += o.ok;
        self.reload += o.reload;
        self.unexpected += o.unexpected;
        self.failed += o.failed;
    }
}

/// What one client saw during its turn.
#[derive(Debug, Default)]
pub(crate) struct ClientLog {
    /// Stream sequences received, in arrival order.
    pub seen: Vec<u64>,
    /// From the storm's start to this client being back.
    pub back_after: Option<Duration>,
    /// Attempts of the first connect.
    pub first: Attempts,
    /// Attempts from the storm on.
    pub storm: Attempts,
    /// Connections the server ended on its own.
    pub unplanned_closes: u64,
    /// Gateway only: how the storm reconnect's time split, (negotiate + socket + handshake,
    /// handshake → `Resumed`), of the attempt that succeeded.
    pub phases: Option<(Duration, Duration)>,
    after_drop: bool,
}

impl ClientLog {
    /// The attempt counters of the current phase.
    pub(crate) fn attempts(&mut self) -> &mut Attempts {
        if self.after_drop {
            &mut self.storm
        } else {
            &mut self.first
        }
    }

    /// Whether the storm has started for this client.
    pub(crate) fn after_drop(&self) -> bool {
        self.after_drop
    }

    /// The highest sequence received so far.
    pub(crate) fn last_seen(&self) -> Option<u64> {
        self.seen.iter().copied().max()
    }
}

/// How clients of one system open and read connections.
pub(crate) trait Target: Send + Sync + 'static {
    /// An open connection.
    type Conn: Send + 'static;
    /// Opens client `index`'s connection and returns once it is back, recording what arrives
    /// before; counts the outcome in `log.attempts()` (failures are counted by the caller).
    fn open(
        &self,
        index: usize,
        log: &mut ClientLog,
    ) -> impl Future<Output = Result<Self::Conn, Error>> + Send;
    /// Waits for the next message and records it; `Ok(false)` once the server ended the
    /// connection. Must be cancel-safe while waiting.
    fn read(
        &self,
        conn: &mut Self::Conn,
        log: &mut ClientLog,
    ) -> impl Future<Output = Result<bool, Error>> + Send;
    /// The connection's TCP stream (to reset it).
    fn tcp(conn: &Self::Conn) -> &TcpStream;
}

/// Starts clients `0..n`; each task ends after [`Phase::Stop`] with its log.
pub(crate) fn spawn<T: Target>(
    target: Arc<T>,
    n: usize,
    shared: &Arc<Shared>,
) -> Vec<JoinHandle<ClientLog>> {
    (0..n)
        .map(|i| tokio::spawn(run(target.clone(), i, shared.clone())))
        .collect()
}

async fn run<T: Target>(target: Arc<T>, index: usize, shared: Arc<Shared>) -> ClientLog {
    let mut log = ClientLog::default();
    let mut phase = shared.phase.clone();
    let mut handled = Phase::Run;
    let Some(mut conn) = connect(&*target, index, &shared, &mut log, &mut phase).await else {
        return log;
    };
    shared.connected.fetch_add(1, Ordering::Relaxed);
    loop {
        // The phase is compared with the last one handled rather than trusted to `changed()`,
        // which a wait inside `connect` may already have consumed.
        let current = *phase.borrow_and_update();
        if current != handled {
            handled = current;
            net::reset_on_close(T::tcp(&conn));
            drop(conn);
            let Phase::Drop(storm_start) = current else {
                return log;
            };
            log.after_drop = true;
            tokio::time::sleep(shared.away).await;
            let Some(c) = connect(&*target, index, &shared, &mut log, &mut phase).await else {
                return log;
            };
            conn = c;
            log.back_after = Some(storm_start.elapsed());
            shared.back.fetch_add(1, Ordering::Relaxed);
            continue;
        }
        let before = log.seen.len();
        let read = tokio::select! {
            r = target.read(&mut conn, &mut log) => Some(r),
            changed = phase.changed() => {
                if changed.is_err() {
                    // The controller is gone.
                    return log;
                }
                None
            }
        };
        shared
            .events
            .fetch_add((log.seen.len() - before) as u64, Ordering::Relaxed);
        if let Some(Ok(false) | Err(_)) = read {
            // The server ended it: reconnect as a real client would.
            log.unplanned_closes += 1;
            net::reset_on_close(T::tcp(&conn));
            drop(conn);
            let Some(c) = connect(&*target, index, &shared, &mut log, &mut phase).await else {
                return log;
            };
            conn = c;
        }
    }
}

/// Opens a connection, retrying failures, within the open-concurrency bound; `None` once the
/// controller says stop.
async fn connect<T: Target>(
    target: &T,
    index: usize,
    shared: &Shared,
    log: &mut ClientLog,
    phase: &mut watch::Receiver<Phase>,
) -> Option<T::Conn> {
    loop {
        if *phase.borrow() == Phase::Stop {
            return None;
        }
        let before = log.seen.len();
        let attempt = async {
            let _permit = shared.permits.acquire().await.ok()?;
            tokio::time::timeout(OPEN_TIMEOUT, target.open(index, log))
                .await
                .ok()?
                .ok()
        };
        let outcome = tokio::select! {
            conn = attempt => conn,
            () = until_stop(phase) => return None,
        };
        shared
            .events
            .fetch_add((log.seen.len() - before) as u64, Ordering::Relaxed);
        match outcome {
            Some(conn) => return Some(conn),
            None => log.attempts().failed += 1,
        }
        tokio::time::sleep(RETRY_DELAY).await;
    }
}

async fn until_stop(phase: &mut watch::Receiver<Phase>) {
    while phase.changed().await.is_ok() {
        if *phase.borrow() == Phase::Stop {
            return;
        }
    }
    // The controller is gone: stop too.
}
