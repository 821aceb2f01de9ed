//! The orders service's settings, read once from the command line or environment variables
//! (`ORDERS_*` for this service, `ORDERFLOW_*` for settings every service shares). Tests build
//! this struct directly and never touch the process environment.

use std::net::SocketAddr;

use secrecy::SecretString;

/// Settings of the orders service.
#[derive(Debug, Clone, clap::Parser)]
#[command(name = "orders", about = "OrderFlow orders service", version)]
pub struct Config {
    /// Address to listen on.
    #[arg(long, env = "ORDERS_LISTEN", default_value = "127.0.0.1:8081")]
    pub listen: SocketAddr,
    /// PostgreSQL URL of the orders database.
    #[arg(long, env = "ORDERS_DATABASE_URL", hide_env_values = true)]
    pub database_url: SecretString,
    /// Largest number of database connections for requests (the event consumer, the relay and
    /// background work have up to 8 more: see docs/operations.md).
    #[arg(long, env = "ORDERS_DB_MAX_CONNECTIONS", default_value_t = 32)]
    pub db_max_connections: usize,
    /// NATS, logging, tokens, streams and HTTP limits, as every service reads them.
    #[command(flatten)]
    pub common: orderflow_service::Settings,
}
