//! The reconnect-storm benchmark (issue 17, "Reconnect storms"): N clients connected while
//! order events flow, every connection reset at once, everyone reconnecting immediately. It
//! runs against our gateway, nats-server's own WebSocket listener and a bare tokio-tungstenite
//! floor server with the same client code, in alternating turns within the same minutes
//! (`for round { gateway; nats; floor }`), so that a noisy machine disturbs all three alike, and
//! prints per-round tables and the median of the paired ratios.
//!
//! For the gateway it also checks every client's receipts against the publisher's ledger:
//! nothing lost, nothing twice, stream order (see [`crate::ledger`]). nats-server's clients are
//! core NATS subscribers: what was published while they were away is gone, and the report
//! counts it rather than calling it an error.
//!
//! Modules: `clients` (the per-client schedule), `targets` (how each system is opened and
//! read), `turn` (one system's turn), `report` (tables and ratios).

mod clients;
pub(crate) mod report;
mod targets;
mod turn;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

pub use clients::Attempts;
pub use turn::TurnFigures;

use crate::backend::Backend;
use crate::error::Error;
use crate::floor::FloorProcess;
use crate::gateway::{self, GatewayProcess};
use crate::signalr::HubProtocol;
use crate::{net, procfs};

/// A system under test.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum System {
    /// Our gateway (`gateway` binary), resuming by position; JSON hub protocol.
    Gateway,
    /// The same gateway, its clients speaking the MessagePack hub protocol.
    #[value(name = "gateway-mp")]
    GatewayMp,
    /// nats-server's WebSocket listener, core NATS subscriptions.
    Nats,
    /// A bare WebSocket echo of one message: the lower bound.
    Floor,
}

impl System {
    /// The hub protocol of a gateway system's clients; `None` for the others.
    pub fn hub_protocol(self) -> Option<HubProtocol> {
        match self {
            System::Gateway => Some(HubProtocol::Json),
            System::GatewayMp => Some(HubProtocol::MessagePack),
            System::Nats | System::Floor => None,
        }
    }

    /// When a client of this system counts as connected (or back).
    pub fn back_signal(self) -> &'static str {
        match self {
            System::Gateway | System::GatewayMp => {
                "handshake done and the `Resumed` invocation received"
            }
            System::Nats => "`PONG` received after `CONNECT`, `SUB`, `PING`",
            System::Floor => "the answer to its one message received",
        }
    }
}

impl std::fmt::Display for System {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            System::Gateway => "gateway",
            System::GatewayMp => "gateway-mp",
            System::Nats => "nats-ws",
            System::Floor => "floor",
        })
    }
}

/// Everything a storm run needs to know.
#[derive(Clone, Debug)]
pub struct StormConfig {
    /// Clients (one customer each) per turn.
    pub clients: usize,
    /// Events per second published while the clients are connected (not in the floor's turn).
    pub rate: u64,
    /// Rounds; each runs every system once.
    pub rounds: usize,
    /// Systems in the order they take turns.
    pub systems: Vec<System>,
    /// Pause between the reset and the reconnect.
    pub away: Duration,
    /// Open attempts in flight at once (per turn).
    pub open_concurrency: usize,
    /// Source addresses 127.0.0.2 .. 127.0.0.(1+k).
    pub source_addrs: u8,
    /// Events flowing before the storm.
    pub warm_up: Duration,
    /// Events flowing after everyone is back, before publishing stops.
    pub settle: Duration,
    /// How long after the reconnect starts clients may take to be back.
    pub back_timeout: Duration,
    /// The `gateway` binary.
    pub gateway_bin: PathBuf,
    /// The `orderflow-loadgen` binary, which runs the floor server (`floor-server`).
    pub loadgen_bin: PathBuf,
}

/// One turn's outcome.
#[derive(Debug)]
pub struct TurnReport {
    pub round: usize,
    pub system: System,
    /// The figures, or why the turn could not be measured.
    pub figures: Result<TurnFigures, String>,
}

/// Every turn, in the order they ran.
#[derive(Debug, Default)]
pub struct StormReport {
    pub turns: Vec<TurnReport>,
}

/// The servers that stay up for the whole run, and the clients' shared network set-up.
pub(crate) struct Env {
    backend: Backend,
    gateway: Option<GatewayProcess>,
    floor: Option<FloorProcess>,
    sources: Vec<IpAddr>,
    http: Vec<reqwest::Client>,
}

impl Env {
    /// Processes whose CPU time counts for `system`'s turn, then the load generator.
    fn pids(&self, system: System) -> Vec<(&'static str, u32)> {
        let mut pids = Vec::new();
        match system {
            System::Gateway | System::GatewayMp => {
                pids.extend(self.gateway.as_ref().map(|g| ("gateway", g.pid())));
            }
            System::Floor => pids.extend(self.floor.as_ref().map(|f| ("floor", f.pid()))),
            System::Nats => {}
        }
        if system != System::Floor {
            pids.extend(self.backend.pid().map(|p| ("nats-server", p)));
        }
        pids.push(("loadgen", std::process::id()));
        pids
    }
}

/// Runs the benchmark, printing as it goes, and returns every turn's figures.
pub async fn run(cfg: &StormConfig) -> Result<StormReport, Error> {
    // Client sockets, negotiate connections, NATS, epoll and the standard streams. The servers
    // run in their own processes (same limit, inherited), each holding one side per client.
    procfs::check_file_limit(cfg.clients as u64 + 256)?;
    let uses = |s: System| cfg.systems.contains(&s);
    let backend = Backend::start(uses(System::Nats)).await?;
    let localhost = |port| SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), port);
    let gateway = if uses(System::Gateway) || uses(System::GatewayMp) {
        let stale = gateway::newer_sources(&cfg.gateway_bin);
        if !stale.is_empty() {
            println!(
                "warning: {} is older than {} of its sources (e.g. {}); rebuild it",
                cfg.gateway_bin.display(),
                stale.len(),
                stale[0].display()
            );
        }
        let log = std::env::temp_dir().join(format!("loadgen-gateway-{}.log", std::process::id()));
        let addr = localhost(orderflow_test_support::free_port());
        Some(GatewayProcess::start(&cfg.gateway_bin, addr, &backend.url(), 1, log).await?)
    } else {
        None
    };
    let floor = if uses(System::Floor) {
        let addr = localhost(orderflow_test_support::free_port());
        Some(FloorProcess::start(&cfg.loadgen_bin, addr, None).await?)
    } else {
        None
    };
    let sources = net::source_addrs(cfg.source_addrs);
    let http = net::http_clients(&sources)?;
    let env = Env {
        backend,
        gateway,
        floor,
        sources,
        http,
    };
    report::print_setup(cfg, &env);

    let mut storm = StormReport::default();
    for round in 1..=cfg.rounds {
        for &system in &cfg.systems {
            let figures = turn::run(&env, cfg, system).await;
            storm.turns.push(TurnReport {
                round,
                system,
                figures: figures.map_err(|e| e.to_string()),
            });
            // Let the servers finish closing the turn's connections before the next one.
            tokio::time::sleep(Duration::from_secs(2)).await;
        }
        report::print_round(round, cfg.rounds, &storm);
    }
    report::print_summary(&storm);
    Ok(storm)
}
