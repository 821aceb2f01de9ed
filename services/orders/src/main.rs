//! The orders service binary: read config, start telemetry, serve until SIGTERM.

use clap::Parser;
use orderflow_orders::{Config, OrdersApp};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let config = Config::parse();
    orderflow_runtime::telemetry::init("info,orders=info", config.common.log_format == "json");
    let listener = orderflow_service::listen("orders", config.listen)?;
    let shutdown = orderflow_runtime::shutdown::token_on_signal();
    OrdersApp::connect(config)
        .await?
        .serve(listener, shutdown)
        .await
}
