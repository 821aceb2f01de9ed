//! The `gateway` binary: reads settings, starts telemetry, runs the hub until SIGTERM, drains.

use clap::Parser;
use orderflow_gateway::{Gateway, GatewaySettings};

/// jemalloc instead of glibc's malloc: a delivery allocates a few dozen small blocks (mostly
/// the NATS client's header maps), and glibc's allocator was a fifth of the gateway's CPU under
/// load. jemalloc cut the gateway's CPU per delivery by about a fifth with no more memory per
/// connection; mimalloc saved as much CPU but cost 3 KiB more per idle connection. Measured side
/// by side in docs/benchmarks.md ("Allocator").
#[cfg(feature = "jemalloc")]
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let json_logs = std::env::var("ORDERFLOW_LOG_FORMAT").is_ok_and(|v| v == "json");
    orderflow_runtime::telemetry::init("info", json_logs);
    let settings = GatewaySettings::parse();
    // The connection caps are derived from the descriptor limit: take all the operator allows.
    orderflow_runtime::limits::raise_nofile_limit();
    let gateway = Gateway::build(settings).await?;
    tracing::info!(addr = %gateway.local_addr(), "gateway listening");
    gateway.run(orderflow_runtime::shutdown::signal()).await?;
    tracing::info!("gateway stopped");
    Ok(())
}
