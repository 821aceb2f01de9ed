//! The orders service binary: read config, start telemetry, serve until SIGTERM.

use clap::Parser;
use orderflow_orders::{Config, OrdersApp};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let config = Config::parse();
    orderflow_runtime::telemetry::init("info,orders=info", config.log_format == "json");
    // The connection caps are derived from the descriptor limit: take all the operator allows.
    orderflow_runtime::limits::raise_nofile_limit();
    let listener = orderflow_runtime::serve::bind(config.listen)?;
    tracing::info!(address = %listener.local_addr()?, "orders service listening");
    let shutdown = orderflow_runtime::shutdown::token_on_signal();
    OrdersApp::connect(config)
        .await?
        .serve(listener, shutdown)
        .await
}
