//! `orderflow-loadgen`: the command line of the load tool (see the library's documentation for
//! what each benchmark does). Subcommands: `delivery`, `storm`, and the hidden `floor-server`
//! that the storm benchmark starts as a child process.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Parser, Subcommand};
use orderflow_loadgen::delivery::{self, DeliveryArgs};
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
    /// Memory per idle connection, then deliveries/s, CPU per delivery and latency.
    Delivery(DeliveryArgs),
    /// Reconnect storm: gateway vs nats-server WebSocket vs a bare WebSocket floor.
    Storm(StormArgs),
    /// The floor server (started by `storm` as a child process).
    #[command(hide = true)]
    FloorServer {
        #[arg(long)]
        listen: SocketAddr,
    },
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
    /// The gateway binary (default: `gateway` next to this executable).
    #[arg(long)]
    gateway_bin: Option<PathBuf>,
}

#[tokio::main]
async fn main() {
    let result = match Cli::parse().command {
        Command::Delivery(args) => delivery::run(args).await,
        Command::Storm(args) => run_storm(args).await,
        Command::FloorServer { listen } => serve_floor(listen).await,
    };
    if let Err(e) = result {
        eprintln!("loadgen: {e}");
        std::process::exit(1);
    }
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
        gateway_bin: match args.gateway_bin {
            Some(b) => b,
            None => gateway::default_binary()?,
        },
        loadgen_bin: std::env::current_exe()?,
    };
    storm::run(&config).await.map(drop)
}

async fn serve_floor(listen: SocketAddr) -> Result<(), Error> {
    floor::serve(floor::listen(listen)?).await
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
