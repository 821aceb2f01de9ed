//! `orderflow-loadgen`: the command line of the load tool (see the library's documentation for
//! what each benchmark does). Subcommands: `delivery`, `storm`, `instructions`, and the hidden
//! `floor-server` that the first two start as a child process.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Parser, Subcommand};
use orderflow_loadgen::delivery::{self, DeliveryConfig, Mode};
use orderflow_loadgen::instructions::{self, InstructionsConfig};
use orderflow_loadgen::storm::{self, StormConfig, System};
use orderflow_loadgen::{Error, floor, gateway};

#[derive(Parser, Debug)]
#[command(name = "orderflow-loadgen", about = "Gateway benchmarks on loopback")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Memory per idle connection, CPU per delivery, latency and saturation: gateway vs
    /// nats-server WebSocket vs a bare WebSocket floor.
    Delivery(DeliveryArgs),
    /// Reconnect storm: gateway vs nats-server WebSocket vs a bare WebSocket floor.
    Storm(StormArgs),
    /// Instructions per delivery under valgrind's callgrind, against a budget.
    Instructions(InstructionsArgs),
    /// The floor server (started by the benchmarks as a child process).
    #[command(hide = true)]
    FloorServer {
        #[arg(long)]
        listen: SocketAddr,
        /// Route the messages of `live.orders.v1.>` on this NATS server to the sockets.
        #[arg(long)]
        nats: Option<String>,
    },
}

/// Which modes `--mode` runs.
#[derive(Clone, Copy, Debug, clap::ValueEnum)]
enum ModeArg {
    PerCustomer,
    Broadcast,
    Both,
}

/// `--gateway-bin`, for every benchmark that starts a gateway.
#[derive(clap::Args, Debug)]
struct GatewayBin {
    /// The gateway binary (default: `gateway` next to this executable).
    #[arg(long)]
    gateway_bin: Option<PathBuf>,
}

impl GatewayBin {
    fn resolve(self) -> Result<PathBuf, Error> {
        self.gateway_bin.map_or_else(gateway::default_binary, Ok)
    }
}

/// Options of `orderflow-loadgen delivery`.
#[derive(clap::Args, Debug)]
struct DeliveryArgs {
    /// Connections opened and held per turn.
    #[arg(long, default_value_t = 5000)]
    connections: usize,
    /// Connections per customer in per-customer mode (an event reaches all of them).
    #[arg(long, default_value_t = 1)]
    per_customer: usize,
    /// Target deliveries per second of the paced phase (broadcast: events/s = rate /
    /// connections).
    #[arg(long, default_value_t = 10_000)]
    rate: u64,
    /// Seconds of the paced phase.
    #[arg(long, default_value_t = 10)]
    duration: u64,
    /// Seconds of the saturation phase.
    #[arg(long, default_value_t = 5)]
    saturation_secs: u64,
    /// Rounds; each gives every mode and system one turn.
    #[arg(long, default_value_t = 3)]
    rounds: usize,
    /// Who gets an event: one customer's connections, every connection, or both in turn.
    #[arg(long, value_enum, default_value = "both")]
    mode: ModeArg,
    /// Systems in turn order.
    #[arg(
        long,
        value_enum,
        value_delimiter = ',',
        default_value = "gateway,gateway-mp,nats,floor"
    )]
    systems: Vec<System>,
    /// Source addresses 127.0.0.2 .. 127.0.0.(1+k) the connections are spread over.
    #[arg(long, default_value_t = 8)]
    source_addrs: u8,
    /// Connection attempts in flight at once.
    #[arg(long, default_value_t = 256)]
    open_concurrency: usize,
    #[command(flatten)]
    gateway_bin: GatewayBin,
}

/// Options of `orderflow-loadgen storm`.
#[derive(clap::Args, Debug)]
struct StormArgs {
    /// Clients per turn, one customer each.
    #[arg(long, default_value_t = 10_000)]
    clients: usize,
    /// Order events per second published during the gateway and nats-ws turns.
    #[arg(long, default_value_t = 2000)]
    rate: u64,
    /// Rounds; each gives every system one turn.
    #[arg(long, default_value_t = 3)]
    rounds: usize,
    /// Systems in turn order.
    #[arg(
        long,
        value_enum,
        value_delimiter = ',',
        default_value = "gateway,nats,floor"
    )]
    systems: Vec<System>,
    /// Milliseconds between the reset and the reconnect (0: at once).
    #[arg(long, default_value_t = 0)]
    away_ms: u64,
    /// Connection attempts in flight at once.
    #[arg(long, default_value_t = 1024)]
    open_concurrency: usize,
    /// Source addresses 127.0.0.2 .. 127.0.0.(1+k) the clients are spread over.
    #[arg(long, default_value_t = 8)]
    source_addrs: u8,
    /// Seconds of events before the storm.
    #[arg(long, default_value_t = 3)]
    warm_up_secs: u64,
    /// Seconds of events after everyone is back, before publishing stops.
    #[arg(long, default_value_t = 3)]
    settle_secs: u64,
    /// Seconds the clients may take to be back before the turn moves on without them.
    #[arg(long, default_value_t = 120)]
    back_timeout_secs: u64,
    #[command(flatten)]
    gateway_bin: GatewayBin,
}

/// Options of `orderflow-loadgen instructions`.
#[derive(clap::Args, Debug)]
struct InstructionsArgs {
    /// Events published, one at a time (one delivery each).
    #[arg(long, default_value_t = 2000)]
    events: usize,
    /// Customers with one connection each; the events go to them in turn.
    #[arg(long, default_value_t = 20)]
    clients: usize,
    /// Fail (exit 2) above this many instructions per delivery.
    #[arg(long, default_value_t = instructions::RELEASE_BUDGET)]
    budget: f64,
    #[command(flatten)]
    gateway_bin: GatewayBin,
    /// Keep callgrind's dump in this directory (read it with `callgrind_annotate`).
    #[arg(long)]
    keep_in: Option<PathBuf>,
}

#[tokio::main]
async fn main() {
    let result = match Cli::parse().command {
        Command::Delivery(args) => run_delivery(args).await,
        Command::Storm(args) => run_storm(args).await,
        Command::Instructions(args) => run_instructions(args).await,
        Command::FloorServer { listen, nats } => floor::run(listen, nats.as_deref()).await,
    };
    if let Err(e) = result {
        eprintln!("loadgen: {e}");
        std::process::exit(1);
    }
}

async fn run_instructions(args: InstructionsArgs) -> Result<(), Error> {
    println!("command: {}", command_line());
    let config = InstructionsConfig {
        events: args.events,
        clients: args.clients,
        gateway_bin: args.gateway_bin.resolve()?,
        keep_in: args.keep_in,
    };
    let report = instructions::run(&config).await?;
    let per = report.per_delivery();
    println!(
        "gateway instructions per delivery: {per:.0} ({} instructions over {} deliveries, {} clients); budget {:.0}",
        report.instructions, report.deliveries, config.clients, args.budget
    );
    if per > args.budget {
        eprintln!(
            "loadgen: over budget by {:.1} %",
            (per / args.budget - 1.0) * 100.0
        );
        std::process::exit(2);
    }
    Ok(())
}

async fn run_storm(args: StormArgs) -> Result<(), Error> {
    println!("command: {}", command_line());
    let config = StormConfig {
        clients: args.clients,
        rate: args.rate,
        rounds: args.rounds,
        systems: args.systems,
        away: Duration::from_millis(args.away_ms),
        open_concurrency: args.open_concurrency,
        source_addrs: args.source_addrs,
        warm_up: Duration::from_secs(args.warm_up_secs),
        settle: Duration::from_secs(args.settle_secs),
        back_timeout: Duration::from_secs(args.back_timeout_secs),
        gateway_bin: args.gateway_bin.resolve()?,
        loadgen_bin: std::env::current_exe()?,
    };
    storm::run(&config).await.map(drop)
}

async fn run_delivery(args: DeliveryArgs) -> Result<(), Error> {
    println!("command: {}", command_line());
    let config = DeliveryConfig {
        connections: args.connections,
        per_customer: args.per_customer.max(1),
        rate: args.rate,
        duration: Duration::from_secs(args.duration),
        saturation: Duration::from_secs(args.saturation_secs),
        rounds: args.rounds,
        modes: match args.mode {
            ModeArg::PerCustomer => vec![Mode::PerCustomer],
            ModeArg::Broadcast => vec![Mode::Broadcast],
            ModeArg::Both => vec![Mode::PerCustomer, Mode::Broadcast],
        },
        systems: args.systems,
        open_concurrency: args.open_concurrency,
        source_addrs: args.source_addrs,
        warm_up: Duration::from_secs(1),
        settle: Duration::from_secs(3),
        gateway_bin: args.gateway_bin.resolve()?,
        loadgen_bin: std::env::current_exe()?,
    };
    delivery::run(&config).await.map(drop)
}

/// This process's command line, quoted for a POSIX shell where needed, so a printed report
/// says exactly how it was made.
fn command_line() -> String {
    std::env::args()
        .map(|a| {
            let plain = !a.is_empty()
                && a.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_=./:,@%+".contains(c));
            if plain {
                a
            } else {
                format!("'{}'", a.replace('\'', r"'\''"))
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}
