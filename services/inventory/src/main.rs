//! The inventory service binary: read config, start telemetry, then either serve until SIGTERM
//! or, with `seed-demo`, load the demo catalog and exit.

use clap::Parser;
use orderflow_inventory::{Config, InventoryApp, demo};

/// OrderFlow inventory service.
#[derive(Debug, clap::Parser)]
#[command(name = "inventory", about = "OrderFlow inventory service", version)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    config: Config,
}

#[derive(Debug, clap::Subcommand)]
enum Command {
    /// Serve the API, the outbox relay and the order-event consumer (the default).
    Serve,
    /// Create the demo catalog's products that do not exist yet, then exit. Idempotent: a
    /// product whose sku exists is left alone. The events reach NATS through the outbox when
    /// the service (its relay) runs.
    SeedDemo,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let Cli { command, config } = Cli::parse();
    let json = config.common.log_format == "json";
    orderflow_runtime::telemetry::init_service("inventory", "info,inventory=info", json);
    let result = run(command.unwrap_or(Command::Serve), config).await;
    // The last spans (those of the final drain) are still buffered when serving ends.
    orderflow_runtime::telemetry::shutdown().await;
    result
}

async fn run(command: Command, config: Config) -> anyhow::Result<()> {
    match command {
        Command::Serve => {
            let listener = orderflow_service::listen("inventory", config.listen)?;
            let shutdown = orderflow_runtime::shutdown::token_on_signal();
            InventoryApp::connect(config)
                .await?
                .serve(listener, shutdown)
                .await
        }
        Command::SeedDemo => {
            let app = InventoryApp::connect(config).await?;
            let report = demo::seed(&app.catalog()).await?;
            tracing::info!(
                created = report.created,
                existing = report.existing,
                "demo catalog loaded"
            );
            Ok(())
        }
    }
}
