//! The orders service binary: read config, start telemetry, serve until SIGTERM, then flush the
//! spans still buffered.

use clap::Parser;
use orderflow_orders::{Config, OrdersApp};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let config = Config::parse();
    let json = config.common.log_format == "json";
    orderflow_runtime::telemetry::init_service("orders", "info,orders=info", json);
    let listener = orderflow_service::listen("orders", config.listen)?;
    let shutdown = orderflow_runtime::shutdown::token_on_signal();
    let served = match OrdersApp::connect(config).await {
        Ok(app) => app.serve(listener, shutdown).await,
        Err(e) => Err(e),
    };
    // The last spans (those of the final drain) are still buffered when serving ends.
    orderflow_runtime::telemetry::shutdown().await;
    served
}
