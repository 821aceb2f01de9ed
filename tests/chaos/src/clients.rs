//! The official `@microsoft/signalr` clients (Node, `clients/clients.mjs`) as one child
//! process, and what they report: one JSON line per received message, reconnect, `Resumed`
//! and error, fed into the scale-out test's [`Ledger`], plus the time each position first
//! reached each client (for "time until caught up").

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use anyhow::{Context, bail};
use orderflow_scale_out::ledger::Ledger;
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, ChildStdin, Command};
use tokio::sync::Mutex;
use tokio::task::JoinHandle;

/// How clients resume after a reconnect.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum ResumeMode {
    /// The contract: positions (and `dashboard=true` for admins) in the hub URL, set with
    /// `connection.baseUrl` in `onreconnecting`; the gateway answers with `Resumed`.
    Url,
    /// Older gateways: `JoinAdminDashboard` and the `Resume` hub method after reconnecting.
    Invoke,
}

/// A SignalR transport.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Transport {
    WebSockets,
    /// Server-Sent Events down, POSTs up.
    ServerSentEvents,
    LongPolling,
}

impl Transport {
    /// The client's `HttpTransportType` name.
    fn name(self) -> &'static str {
        match self {
            Transport::WebSockets => "WebSockets",
            Transport::ServerSentEvents => "ServerSentEvents",
            Transport::LongPolling => "LongPolling",
        }
    }

    /// Most clients on WebSockets, one in five on each HTTP transport.
    pub fn for_client(i: usize) -> Transport {
        match i % 5 {
            3 => Transport::ServerSentEvents,
            4 => Transport::LongPolling,
            _ => Transport::WebSockets,
        }
    }
}

/// One client to run.
#[derive(Clone, Debug)]
pub struct ClientSpec {
    /// Ledger id: the customer id, or `admin-<n>`.
    pub id: String,
    /// Its access token.
    pub token: String,
    /// In the admin dashboard.
    pub admin: bool,
    /// 0 = behind gateway A's failover proxy, 1 = behind B's.
    pub gateway: usize,
    /// Negotiates on the other gateway than the one its socket goes to (no sticky sessions).
    pub cross: bool,
    /// The transport it is forced to.
    pub transport: Transport,
    /// Position to resume from at the first connect (the stream's end before the load).
    pub start: String,
}

/// When the clients had everything.
#[derive(Clone, Copy, Debug)]
pub struct CatchUp {
    /// When the last expected position arrived.
    pub last: Instant,
    /// The longest time from an update's commit to its arrival at a client that should get it.
    pub max_lag: Duration,
}

#[derive(Default)]
struct Seen {
    ledger: Ledger,
    /// First arrival of (client, sequence): monotonic for intervals, wall clock to compare
    /// with commit times.
    first_arrival: HashMap<(String, u64), (Instant, SystemTime)>,
    unreadable: usize,
}

/// The running Node process.
pub struct Clients {
    child: Child,
    stdin: Option<ChildStdin>,
    seen: Arc<Mutex<Seen>>,
    reader: JoinHandle<()>,
}

/// `tests/chaos/clients`, where `clients.mjs` and its lockfile live.
pub fn clients_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("clients")
}

/// Installs the pinned client (`npm ci`) when `node_modules` lacks it.
pub fn npm_ci() -> anyhow::Result<()> {
    let dir = clients_dir();
    if dir.join("node_modules/@microsoft/signalr").exists() {
        return Ok(());
    }
    let status = std::process::Command::new("npm")
        .args(["ci", "--no-audit", "--no-fund"])
        .current_dir(&dir)
        .status()
        .context("npm is needed for the SignalR clients")?;
    if !status.success() {
        bail!("npm ci failed in {}", dir.display());
    }
    Ok(())
}

impl Clients {
    /// Starts every client; Node's stderr goes to `log`.
    pub async fn start(
        gateways: &[String; 2],
        mode: ResumeMode,
        specs: &[ClientSpec],
        log: &Path,
    ) -> anyhow::Result<Clients> {
        let clients: Vec<Value> = specs
            .iter()
            .map(|s| {
                json!({ "id": s.id, "token": s.token, "admin": s.admin,
                        "gateway": s.gateway, "cross": s.cross, "start": s.start,
                        "transport": s.transport.name() })
            })
            .collect();
        let mode = match mode {
            ResumeMode::Url => "url",
            ResumeMode::Invoke => "invoke",
        };
        let config = json!({ "gateways": gateways, "mode": mode, "clients": clients });
        let mut child = Command::new("node")
            .arg("clients.mjs")
            .current_dir(clients_dir())
            .env("CHAOS_CLIENTS_CONFIG", config.to_string())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(log)?)
            .kill_on_drop(true)
            .spawn()
            .context("node is needed for the SignalR clients")?;
        let stdout = child.stdout.take().context("no stdout")?;
        let seen = Arc::new(Mutex::new(Seen::default()));
        let reader = tokio::spawn(read_lines(stdout, seen.clone()));
        Ok(Clients {
            stdin: child.stdin.take(),
            child,
            seen,
            reader,
        })
    }

    /// Waits until every client in `ids` said `ready`; the error names those that did not,
    /// with their first error.
    pub async fn wait_ready(&self, ids: &[String], within: Duration) -> anyhow::Result<()> {
        let deadline = Instant::now() + within;
        loop {
            let seen = self.seen.lock().await;
            if seen.ledger.ready_count() >= ids.len() {
                return Ok(());
            }
            if Instant::now() > deadline {
                let late: Vec<String> = ids
                    .iter()
                    .map(|id| (id, seen.ledger.client(id)))
                    .filter(|(_, log)| !log.ready)
                    .map(|(id, log)| format!("{id} ({:?})", log.errors.first()))
                    .collect();
                bail!(
                    "{} of {} clients not ready within {within:?}: {}",
                    late.len(),
                    ids.len(),
                    late.iter().take(4).cloned().collect::<Vec<_>>().join(", ")
                );
            }
            drop(seen);
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Waits until every client has every expected position (or `within` passes); `None` if
    /// some never arrived. `committed` gives the commit time of each sequence.
    pub async fn wait_caught_up(
        &self,
        expected: &BTreeMap<String, BTreeSet<u64>>,
        committed: &HashMap<u64, SystemTime>,
        within: Duration,
    ) -> Option<CatchUp> {
        let deadline = Instant::now() + within;
        loop {
            if let Some(done) = self.caught_up(expected, committed).await {
                return Some(done);
            }
            if Instant::now() > deadline {
                return None;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    async fn caught_up(
        &self,
        expected: &BTreeMap<String, BTreeSet<u64>>,
        committed: &HashMap<u64, SystemTime>,
    ) -> Option<CatchUp> {
        let seen = self.seen.lock().await;
        let mut last: Option<Instant> = None;
        let mut max_lag = Duration::ZERO;
        for (client, want) in expected {
            for seq in want {
                let (at, wall) = seen.first_arrival.get(&(client.clone(), *seq))?;
                last = last.max(Some(*at));
                if let Some(lag) = committed
                    .get(seq)
                    .and_then(|c| wall.duration_since(*c).ok())
                {
                    max_lag = max_lag.max(lag);
                }
            }
        }
        Some(CatchUp {
            last: last.unwrap_or_else(Instant::now),
            max_lag,
        })
    }

    /// How many distinct `ORDERS` positions client `id` has received so far.
    pub async fn received(&self, id: &str) -> usize {
        let seen = self.seen.lock().await;
        seen.first_arrival.keys().filter(|(c, _)| c == id).count()
    }

    /// Stops every client (closing stdin makes them disconnect cleanly) and returns what they
    /// reported, with the number of lines that were not client JSON.
    pub async fn stop(mut self) -> (Ledger, usize) {
        drop(self.stdin.take());
        if tokio::time::timeout(Duration::from_secs(10), self.child.wait())
            .await
            .is_err()
        {
            let _ = self.child.kill().await;
        }
        let _ = tokio::time::timeout(Duration::from_secs(5), &mut self.reader).await;
        let mut seen = self.seen.lock().await;
        (std::mem::take(&mut seen.ledger), seen.unreadable)
    }
}

async fn read_lines(stdout: tokio::process::ChildStdout, seen: Arc<Mutex<Seen>>) {
    let mut lines = BufReader::new(stdout).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        let now = Instant::now();
        let mut seen = seen.lock().await;
        if seen.ledger.record(&line, now).is_err() {
            seen.unreadable += 1;
            continue;
        }
        let parsed: Value = serde_json::from_str(&line).unwrap_or_default();
        let sequence = parsed["p"]
            .as_str()
            .and_then(|p| p.strip_prefix("ORDERS:"))
            .and_then(|s| s.parse::<u64>().ok());
        if let (Some(client), Some(sequence)) = (parsed["c"].as_str(), sequence) {
            seen.first_arrival
                .entry((client.to_owned(), sequence))
                .or_insert((now, SystemTime::now()));
        }
    }
}
