//! The hostile-client test (issue 25): the real services, started with a low `RLIMIT_NOFILE`,
//! attacked from `127.0.0.2` by slow clients that each send a partial request and one more
//! header line every second, far more of them than the service has descriptors, reconnecting
//! whenever the server closes them. Meanwhile, from `127.0.0.1`: `/healthz` of every service
//! (a new connection each time, as a kubelet probes), an authenticated negotiate and WebSocket
//! connect on the gateway, and an official `@microsoft/signalr` client, connected before the
//! attack, that must keep receiving its customer's updates. Afterwards every slow connection must
//! have been closed by the server within the header deadline.
//!
//! [`run`] does it and returns the figures; `tests/hostile_smoke.rs` runs a short attack in the
//! default test run, `cargo run --release -p orderflow-chaos --bin hostile` a long one
//! (docs/hostile-clients.md).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use futures::{SinkExt, StreamExt};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpSocket;
use tokio::sync::Mutex;
use tokio::task::JoinSet;
use uuid::Uuid;

use crate::binaries::Binaries;
use crate::clients::{ClientSpec, Clients, ResumeMode, Transport, npm_ci};
use crate::driver::Driver;
use crate::system::{System, Tuning, token};

/// What to run.
#[derive(Clone, Debug)]
pub struct HostileConfig {
    /// How long the attack lasts.
    pub attack: Duration,
    /// `ORDERFLOW_HTTP_HEADER_TIMEOUT` of the services.
    pub header_timeout: Duration,
    /// `RLIMIT_NOFILE` of every service.
    pub nofile: u64,
    /// Slow connections the attacker tries to hold per service.
    pub per_service: usize,
    /// Attacker addresses: 127.0.0.2, 127.0.0.3, ... (1 in the test: the attack).
    pub sources: u8,
    /// Where the services log.
    pub logs: PathBuf,
}

/// Lateness allowed beyond the header deadline: the server's watchdog timer, scheduling on a
/// busy 2-core machine running debug builds, and the attacker noticing the close.
pub const CLOSE_TOLERANCE: Duration = Duration::from_millis(1500);

/// One attacked service's figures.
#[derive(Debug, Default, Clone)]
pub struct TargetFigures {
    /// `orders`, `inventory`, `gateway`.
    pub name: String,
    /// Slow connections the attacker opened (each reconnect counts).
    pub opened: u64,
    /// Connections that failed to connect at all.
    pub connect_failures: u64,
    /// Most slow connections open at once, as the attacker sees it (refused ones count until
    /// it reads their close).
    pub held_max: usize,
    /// Slow connections the server closed.
    pub closed: u64,
    /// ... of which within a tenth of a second (refused at a cap).
    pub closed_at_once: u64,
    /// ... of which later than the header deadline + [`CLOSE_TOLERANCE`].
    pub closed_late: u64,
    /// The longest a slow connection stayed open.
    pub longest: Duration,
    /// Slow connections still open [`CLOSE_TOLERANCE`] after the header deadline following
    /// the attack's end.
    pub open_after: usize,
    /// `/healthz` probes made during the attack.
    pub probes: usize,
    /// ... that failed or took 1 s or more.
    pub probes_failed: usize,
    /// Median probe latency.
    pub probe_p50: Duration,
    /// Slowest probe.
    pub probe_max: Duration,
}

/// The whole run's figures.
#[derive(Debug, Default, Clone)]
pub struct HostileReport {
    /// Per attacked service.
    pub targets: Vec<TargetFigures>,
    /// Negotiate + WebSocket connect + handshake on the gateway during the attack.
    pub connects: usize,
    /// ... that failed or took 2 s or more.
    pub connects_failed: usize,
    /// The slowest of them.
    pub connect_max: Duration,
    /// Updates the official client received during the attack.
    pub client_updates_during: usize,
    /// Updates it received in the attack's last third (it keeps receiving).
    pub client_updates_last_third: usize,
    /// Status changes of its orders acknowledged by orders during the attack.
    pub acked_changes: usize,
    /// Updates it had received once everything settled, since the attack began.
    pub client_updates_total: usize,
    /// The header deadline used.
    pub header_timeout: Duration,
    /// Attacker addresses.
    pub sources: u8,
    /// The services' `RLIMIT_NOFILE`.
    pub nofile: u64,
}

impl HostileReport {
    /// What failed, one line each; empty when the run passed.
    pub fn failures(&self) -> Vec<String> {
        let mut failed = Vec::new();
        for t in &self.targets {
            if t.probes == 0 || t.probes_failed > 0 {
                failed.push(format!(
                    "{}: {} of {} /healthz probes failed or took >= 1 s (max {:?})",
                    t.name, t.probes_failed, t.probes, t.probe_max
                ));
            }
            if t.closed_late > 0 || t.open_after > 0 {
                failed.push(format!(
                    "{}: {} slow connections closed after the header deadline, {} never (longest {:?})",
                    t.name, t.closed_late, t.open_after, t.longest
                ));
            }
            if t.opened == 0 {
                failed.push(format!("{}: the attacker opened no connection", t.name));
            }
        }
        if self.connects == 0 || self.connects_failed > 0 {
            failed.push(format!(
                "gateway: {} of {} authenticated negotiate + WebSocket connects failed (max {:?})",
                self.connects_failed, self.connects, self.connect_max
            ));
        }
        if self.client_updates_last_third == 0 {
            failed.push("the official client received nothing in the attack's last third".into());
        }
        if self.client_updates_total < self.acked_changes {
            failed.push(format!(
                "the official client received {} updates, {} status changes were acknowledged",
                self.client_updates_total, self.acked_changes
            ));
        }
        failed
    }

    /// The figures as a Markdown table (the one docs/hostile-clients.md records).
    pub fn table(&self) -> String {
        let mut out = String::from(
            "| service | slow connections opened | held at most | closed at once (cap) | closed late / never | longest open | /healthz probes | p50 | max | failed |\n|---|---|---|---|---|---|---|---|---|---|\n",
        );
        for t in &self.targets {
            out.push_str(&format!(
                "| {} | {} | {} | {} | {} / {} | {:.1} s | {} | {:.1} ms | {:.1} ms | {} |\n",
                t.name,
                t.opened,
                t.held_max,
                t.closed_at_once,
                t.closed_late,
                t.open_after,
                t.longest.as_secs_f64(),
                t.probes,
                t.probe_p50.as_secs_f64() * 1e3,
                t.probe_max.as_secs_f64() * 1e3,
                t.probes_failed,
            ));
        }
        out.push_str(&format!(
            "\nRLIMIT_NOFILE {}, {} attacker address(es), header deadline {:?}; gateway: {} negotiate + WebSocket connects, {} failed, slowest {:.1} ms; official client: {} updates during the attack ({} in its last third), {} in all for {} acknowledged status changes\n",
            self.nofile,
            self.sources,
            self.header_timeout,
            self.connects,
            self.connects_failed,
            self.connect_max.as_secs_f64() * 1e3,
            self.client_updates_during,
            self.client_updates_last_third,
            self.client_updates_total,
            self.acked_changes,
        ));
        out
    }
}

#[derive(Default)]
struct AttackStats {
    opened: AtomicU64,
    connect_failures: AtomicU64,
    open: AtomicUsize,
    held_max: AtomicUsize,
    closed: AtomicU64,
    closed_at_once: AtomicU64,
    closed_late: AtomicU64,
    longest_us: AtomicU64,
}

/// Starts the system, attacks, measures. Fails only when the system cannot be set up; the
/// verdict is [`HostileReport::failures`].
pub async fn run(config: &HostileConfig) -> anyhow::Result<HostileReport> {
    // The attacker's sockets live in this process: as many as it may open, up to the wish,
    // but at least twice the services' limit, or the attack would prove nothing.
    let have = orderflow_runtime::limits::raise_nofile_limit();
    let affordable = (have.saturating_sub(512) / 3) as usize;
    let mut config = config.clone();
    if affordable < config.per_service {
        let floor = 2 * config.nofile as usize;
        if affordable < floor {
            bail!(
                "RLIMIT_NOFILE is {have}; the attacker needs {} (`ulimit -n {}`)",
                floor * 3 + 512,
                floor * 3 + 512
            );
        }
        eprintln!(
            "hostile: RLIMIT_NOFILE {have}: {affordable} slow clients per service, not {}",
            config.per_service
        );
        config.per_service = affordable;
    }
    let config = &config;
    npm_ci()?;
    std::fs::create_dir_all(&config.logs)?;
    let bins = Binaries::locate()?;
    let tuning = Tuning {
        nofile: Some(config.nofile),
        env: vec![
            (
                "ORDERFLOW_HTTP_HEADER_TIMEOUT".into(),
                format!("{}ms", config.header_timeout.as_millis()),
            ),
            // The production defaults, which the chaos suite's environment lifts.
            (
                "ORDERFLOW_MAX_UNAUTHENTICATED_PER_SOURCE".into(),
                "64".into(),
            ),
            ("GATEWAY_NEGOTIATE_RATE_PER_SOURCE".into(), "20".into()),
        ],
    };
    let system = System::start_tuned(&bins, &config.logs, false, &tuning).await?;
    system.seed().await?;

    // The official client, connected before the attack, to gateway B.
    let customer = Uuid::new_v4();
    let id = customer.to_string();
    let gateway = system.gateway_b.url();
    let start = format!("ORDERS:{}", system.orders_last_sequence().await?);
    let clients = Clients::start(
        &[gateway.clone(), gateway.clone()],
        ResumeMode::Url,
        &[ClientSpec {
            id: id.clone(),
            token: token(customer, false),
            admin: false,
            gateway: 0,
            cross: false,
            transport: Transport::WebSockets,
            start,
        }],
        &config.logs.join("hostile-client.log"),
    )
    .await?;
    clients
        .wait_ready(std::slice::from_ref(&id), Duration::from_secs(30))
        .await?;
    let before = clients.received(&id).await;

    let targets = [
        ("orders", system.orders.url()),
        ("inventory", system.inventory.url()),
        ("gateway", gateway.clone()),
    ];
    let stop = Arc::new(AtomicBool::new(false));
    let mut attackers = JoinSet::new();
    let mut stats = Vec::new();
    for (_, url) in &targets {
        let addr: SocketAddr = url
            .trim_start_matches("http://")
            .parse()
            .context("service URL")?;
        let s = Arc::new(AttackStats::default());
        stats.push(s.clone());
        for i in 0..config.per_service {
            let source = 2 + (i % usize::from(config.sources.max(1))) as u8;
            attackers.spawn(slow_client(
                addr,
                source,
                s.clone(),
                stop.clone(),
                config.header_timeout,
                // Spread the first connects over the first second.
                Duration::from_micros((i as u64 * 1_000_000) / config.per_service as u64),
            ));
        }
    }
    let driver = Driver::start(system.orders.url(), &[customer]);
    let began = Instant::now();
    let mut probers = Vec::new();
    for (_, url) in &targets {
        probers.push(tokio::spawn(probe(url.clone(), stop.clone())));
    }
    let connector = tokio::spawn(connect_loop(gateway.clone(), stop.clone()));
    tokio::time::sleep(config.attack * 2 / 3).await;
    let two_thirds = clients.received(&id).await;
    tokio::time::sleep(config.attack / 3).await;
    let during = clients.received(&id).await;
    stop.store(true, Ordering::SeqCst);
    let report_driver = driver.stop().await;
    let attack_took = began.elapsed();

    // Slow connections still open when the attack stops must be closed within the deadline.
    let settle = config.header_timeout + CLOSE_TOLERANCE;
    let _ = tokio::time::timeout(settle, async {
        while attackers.join_next().await.is_some() {}
    })
    .await;
    attackers.abort_all();

    let mut figures = Vec::new();
    for (((name, _), s), prober) in targets.iter().zip(&stats).zip(probers) {
        let latencies = prober.await.unwrap_or_default();
        let mut ok: Vec<Duration> = latencies.iter().filter_map(|l| *l).collect();
        ok.sort();
        let failed = latencies
            .iter()
            .filter(|l| l.is_none_or(|d| d >= Duration::from_secs(1)))
            .count();
        figures.push(TargetFigures {
            name: (*name).to_owned(),
            opened: s.opened.load(Ordering::Relaxed),
            connect_failures: s.connect_failures.load(Ordering::Relaxed),
            held_max: s.held_max.load(Ordering::Relaxed),
            closed: s.closed.load(Ordering::Relaxed),
            closed_at_once: s.closed_at_once.load(Ordering::Relaxed),
            closed_late: s.closed_late.load(Ordering::Relaxed),
            longest: Duration::from_micros(s.longest_us.load(Ordering::Relaxed)),
            open_after: s.open.load(Ordering::Relaxed),
            probes: latencies.len(),
            probes_failed: failed,
            probe_p50: ok.get(ok.len() / 2).copied().unwrap_or_default(),
            probe_max: ok.last().copied().unwrap_or_default(),
        });
    }
    let connects = connector.await.unwrap_or_default();
    let acked_changes = report_driver
        .acked
        .iter()
        .filter(|a| a.version >= 2)
        .count();
    // Let the last acknowledged changes reach the client.
    let deadline = Instant::now() + Duration::from_secs(15);
    let mut total = clients.received(&id).await - before;
    while total < acked_changes && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
        total = clients.received(&id).await - before;
    }
    let _ = clients.stop().await;
    eprintln!("attack lasted {:.1} s", attack_took.as_secs_f64());
    Ok(HostileReport {
        targets: figures,
        connects: connects.len(),
        connects_failed: connects
            .iter()
            .filter(|c| c.is_none_or(|d| d >= Duration::from_secs(2)))
            .count(),
        connect_max: connects.iter().filter_map(|c| *c).max().unwrap_or_default(),
        client_updates_during: during - before,
        client_updates_last_third: during - two_thirds,
        acked_changes,
        client_updates_total: total,
        header_timeout: config.header_timeout,
        sources: config.sources,
        nofile: config.nofile,
    })
}

/// The request line and one header; the blank line that would end the headers never comes.
const PARTIAL: &[u8] = b"GET /api/orders HTTP/1.1\r\nHost: victim\r\n";
/// One more header line per [`DRIP`].
const LINE: &[u8] = b"X-Slow: 1\r\n";
const DRIP: Duration = Duration::from_secs(1);
/// Pause before reconnecting, so that refused connections do not turn into a busy loop of
/// the attacker's own.
const RECONNECT_PAUSE: Duration = Duration::from_millis(200);

/// One slow client from 127.0.0.`source`: connect, send a partial request, drip a header line every
/// second until the server closes, note how long that took, reconnect until told to stop.
async fn slow_client(
    target: SocketAddr,
    source: u8,
    stats: Arc<AttackStats>,
    stop: Arc<AtomicBool>,
    header_timeout: Duration,
    first_delay: Duration,
) {
    tokio::time::sleep(first_delay).await;
    while !stop.load(Ordering::Relaxed) {
        let Ok(stream) = connect_from_attacker(target, source).await else {
            stats.connect_failures.fetch_add(1, Ordering::Relaxed);
            tokio::time::sleep(RECONNECT_PAUSE).await;
            continue;
        };
        let opened = Instant::now();
        stats.opened.fetch_add(1, Ordering::Relaxed);
        let now_open = stats.open.fetch_add(1, Ordering::Relaxed) + 1;
        stats.held_max.fetch_max(now_open, Ordering::Relaxed);
        let (mut rd, mut wr) = stream.into_split();
        let _ = wr.write_all(PARTIAL).await;
        let mut buf = [0u8; 512];
        let mut next_line = tokio::time::Instant::now() + DRIP;
        loop {
            tokio::select! {
                read = rd.read(&mut buf) => match read {
                    // A refusal's 503 comes before the close; keep reading until it.
                    Ok(n) if n > 0 => continue,
                    _ => break,
                },
                () = tokio::time::sleep_until(next_line) => {
                    next_line += DRIP;
                    // A write error is a reset: the server closed; the read sees it too.
                    let _ = wr.write_all(LINE).await;
                }
            }
        }
        let lived = opened.elapsed();
        stats.open.fetch_sub(1, Ordering::Relaxed);
        stats.closed.fetch_add(1, Ordering::Relaxed);
        if lived < Duration::from_millis(100) {
            stats.closed_at_once.fetch_add(1, Ordering::Relaxed);
        }
        if lived > header_timeout + CLOSE_TOLERANCE {
            stats.closed_late.fetch_add(1, Ordering::Relaxed);
        }
        stats
            .longest_us
            .fetch_max(lived.as_micros() as u64, Ordering::Relaxed);
        tokio::time::sleep(RECONNECT_PAUSE).await;
    }
}

async fn connect_from_attacker(
    target: SocketAddr,
    source: u8,
) -> std::io::Result<tokio::net::TcpStream> {
    let socket = TcpSocket::new_v4()?;
    socket.bind(SocketAddr::from(([127, 0, 0, source], 0)))?;
    tokio::time::timeout(Duration::from_secs(5), socket.connect(target))
        .await
        .map_err(|_| std::io::Error::from(std::io::ErrorKind::TimedOut))?
}

/// An HTTP client that opens a new connection for every request, with a 5 s timeout.
fn unpooled_client() -> reqwest::Client {
    orderflow_runtime::http::client_builder()
        .pool_max_idle_per_host(0)
        .timeout(Duration::from_secs(5))
        .build()
        .expect("an HTTP client")
}

/// `/healthz` every 200 ms on a new connection each time, as a kubelet probes; `None` for a
/// failure (5 s timeout).
async fn probe(base: String, stop: Arc<AtomicBool>) -> Vec<Option<Duration>> {
    let http = unpooled_client();
    let mut latencies = Vec::new();
    while !stop.load(Ordering::Relaxed) {
        let t = Instant::now();
        let ok = http
            .get(format!("{base}/healthz"))
            .send()
            .await
            .is_ok_and(|r| r.status().is_success());
        latencies.push(ok.then(|| t.elapsed()));
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    latencies
}

/// An authenticated negotiate, WebSocket connect and SignalR handshake every 500 ms, each by a
/// new user; `None` for a failure.
async fn connect_loop(gateway: String, stop: Arc<AtomicBool>) -> Vec<Option<Duration>> {
    let http = unpooled_client();
    let results = Arc::new(Mutex::new(Vec::new()));
    while !stop.load(Ordering::Relaxed) {
        let t = Instant::now();
        let outcome = tokio::time::timeout(Duration::from_secs(5), connect_once(&http, &gateway))
            .await
            .map_err(|_| anyhow::anyhow!("timed out"))
            .and_then(|r| r);
        if let Err(error) = &outcome {
            eprintln!("hostile: gateway connect failed: {error:#}");
        }
        results
            .lock()
            .await
            .push(outcome.ok().map(|()| t.elapsed()));
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    std::mem::take(&mut *results.lock().await)
}

async fn connect_once(http: &reqwest::Client, gateway: &str) -> anyhow::Result<()> {
    let jwt = token(Uuid::new_v4(), false);
    let negotiated: serde_json::Value = http
        .post(format!(
            "{gateway}/hubs/orders/negotiate?negotiateVersion=1"
        ))
        .bearer_auth(&jwt)
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    let connection_token = negotiated["connectionToken"]
        .as_str()
        .context("no connectionToken")?;
    let ws_url = format!(
        "{}/hubs/orders?id={connection_token}&access_token={jwt}",
        gateway.replacen("http://", "ws://", 1)
    );
    let (mut socket, _) = tokio_tungstenite::connect_async(ws_url).await?;
    socket
        .send(tokio_tungstenite::tungstenite::Message::text(
            "{\"protocol\":\"json\",\"version\":1}\u{1e}",
        ))
        .await?;
    match socket.next().await {
        Some(Ok(tokio_tungstenite::tungstenite::Message::Text(text)))
            if text.as_str().starts_with("{}\u{1e}") => {}
        other => bail!("unexpected handshake answer {other:?}"),
    }
    let _ = socket.close(None).await;
    Ok(())
}
