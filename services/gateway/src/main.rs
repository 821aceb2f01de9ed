//! The `gateway` binary: reads settings, starts telemetry, runs the hub until SIGTERM, drains.

use clap::Parser;
use orderflow_gateway::{Gateway, GatewaySettings};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let json_logs = std::env::var("ORDERFLOW_LOG_FORMAT").is_ok_and(|v| v == "json");
    orderflow_runtime::telemetry::init("info", json_logs);
    let settings = GatewaySettings::parse();
    let gateway = Gateway::build(settings).await?;
    tracing::info!(addr = %gateway.local_addr(), "gateway listening");
    gateway.run(orderflow_runtime::shutdown::signal()).await?;
    tracing::info!("gateway stopped");
    Ok(())
}
