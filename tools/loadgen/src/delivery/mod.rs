//! The delivery-cost benchmark (issues 4 and 18): what it costs to hold connections and to
//! deliver order events to them, for our gateway, nats-server's own WebSocket listener and a
//! bare tokio-tungstenite floor server, side by side with the same client code.
//!
//! Every turn starts its system's servers fresh (nats-server with the real streams, plus the
//! gateway or the floor as child processes), so that memory is read from a process that held
//! nothing before. A turn opens N connections, reads the servers' resident memory before and
//! after (memory per idle connection), publishes real `OrderStatusChanged` events to JetStream
//! at a paced delivery rate (deliveries/s, CPU per delivery, latency from the event's
//! `updatedAt`), then as fast as the system keeps up (saturation), and checks that every client
//! got every event meant for it. Turns alternate `for round { for mode { gateway; nats; floor
//! } }`, so that a noisy machine disturbs all systems alike, and the report gives the median of
//! the per-round paired ratios.
//!
//! Two modes: per customer (each connection follows one customer; an event reaches that
//! customer's connections) and broadcast (every connection gets every event: the gateway's admin
//! dashboard, `live.orders.v1.>` on nats-server, `*` on the floor; the event rate is the
//! delivery rate divided by the connections).
//!
//! Modules: `servers` (the processes of a turn), `clients` (opening and reading connections of
//! each system), `turn` (one turn's phases), `report` (tables, ratios, targets).

mod clients;
mod report;
mod servers;
mod turn;

use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

pub use turn::{PhaseFigures, TurnFigures};

use crate::error::Error;
pub use crate::storm::System;
use crate::{gateway, net, procfs};

/// Who gets an event.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Mode {
    /// Each connection follows one customer; an event reaches its customer's connections.
    PerCustomer,
    /// Every connection gets every event.
    Broadcast,
}

impl std::fmt::Display for Mode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Mode::PerCustomer => "per-customer",
            Mode::Broadcast => "broadcast",
        })
    }
}

/// Everything a delivery run needs to know.
#[derive(Clone, Debug)]
pub struct DeliveryConfig {
    /// Connections opened and held per turn.
    pub connections: usize,
    /// Connections per customer in per-customer mode.
    pub per_customer: usize,
    /// Target deliveries per second of the paced phase.
    pub rate: u64,
    /// Length of the paced phase.
    pub duration: Duration,
    /// Length of the saturation phase.
    pub saturation: Duration,
    /// Rounds; each runs every mode and system once.
    pub rounds: usize,
    /// Modes, in the order they run within a round.
    pub modes: Vec<Mode>,
    /// Systems, in the order they take turns within a mode.
    pub systems: Vec<System>,
    /// Connection attempts in flight at once.
    pub open_concurrency: usize,
    /// Source addresses 127.0.0.2 .. 127.0.0.(1+k).
    pub source_addrs: u8,
    /// From the servers' start to the first memory reading.
    pub warm_up: Duration,
    /// From the last connection opened to the idle memory reading.
    pub settle: Duration,
    /// The `gateway` binary.
    pub gateway_bin: PathBuf,
    /// The `orderflow-loadgen` binary, which runs the floor server (`floor-server`).
    pub loadgen_bin: PathBuf,
}

/// One turn's outcome.
#[derive(Debug)]
pub struct TurnReport {
    pub round: usize,
    pub mode: Mode,
    pub system: System,
    /// The figures, or why the turn could not be measured.
    pub figures: Result<TurnFigures, String>,
}

/// Every turn, in the order they ran.
#[derive(Debug, Default)]
pub struct DeliveryReport {
    pub turns: Vec<TurnReport>,
}

impl DeliveryReport {
    /// The figures of `system`'s turn in `round` and `mode`, if it completed.
    pub fn figures(&self, round: usize, mode: Mode, system: System) -> Option<&TurnFigures> {
        self.turns
            .iter()
            .find(|t| t.round == round && t.mode == mode && t.system == system)
            .and_then(|t| t.figures.as_ref().ok())
    }
}

/// The clients' network set-up, shared by every turn.
pub(crate) struct Env {
    sources: Vec<IpAddr>,
    /// One HTTP client per source address (gateway negotiates).
    http: Vec<reqwest::Client>,
}

/// Runs the benchmark, printing as it goes, and returns every turn's figures.
pub async fn run(cfg: &DeliveryConfig) -> Result<DeliveryReport, Error> {
    // Client sockets, negotiate connections, NATS, epoll and the standard streams. Each server
    // runs in its own process (same limit, inherited) and holds one side per connection.
    procfs::check_file_limit(cfg.connections as u64 + 256)?;
    if cfg.systems.iter().any(|s| s.hub_protocol().is_some()) {
        let stale = gateway::newer_sources(&cfg.gateway_bin);
        if let Some(first) = stale.first() {
            println!(
                "warning: {} is older than {} of its sources (e.g. {}); rebuild it",
                cfg.gateway_bin.display(),
                stale.len(),
                first.display()
            );
        }
    }
    let sources = net::source_addrs(cfg.source_addrs);
    let http = net::http_clients(&sources)?;
    let env = Env { sources, http };
    report::print_setup(cfg, env.sources.len());

    let mut report = DeliveryReport::default();
    for round in 1..=cfg.rounds {
        for &mode in &cfg.modes {
            for &system in &cfg.systems {
                let figures = turn::run(cfg, &env, mode, system).await;
                if let Err(e) = &figures {
                    println!("round {round}, {mode}, {system}: failed: {e}");
                }
                report.turns.push(TurnReport {
                    round,
                    mode,
                    system,
                    figures: figures.map_err(|e| e.to_string()),
                });
                // The servers are gone; let the kernel finish with their sockets.
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
            report::print_round(cfg, round, mode, &report);
        }
    }
    report::print_summary(cfg, &report);
    Ok(report)
}
