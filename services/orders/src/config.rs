//! The orders service's settings, read once from the command line or environment variables.
//! Tests build this struct directly and never touch the process environment.

use std::net::SocketAddr;

use orderflow_auth::AuthSettings;
use orderflow_outbox::StreamSettings;
use orderflow_runtime::limits::HttpLimits;
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
    /// NATS server URL(s), comma separated.
    #[arg(
        long,
        env = "ORDERFLOW_NATS_URL",
        default_value = "nats://127.0.0.1:4222"
    )]
    pub nats_url: String,
    /// `json` for one JSON object per log line, `text` for humans.
    #[arg(long, env = "ORDERFLOW_LOG_FORMAT", default_value = "text")]
    pub log_format: String,
    /// Token validation.
    #[command(flatten)]
    pub auth: AuthSettings,
    /// Event stream retention and replicas.
    #[command(flatten)]
    pub streams: StreamSettings,
    /// HTTP deadlines and connection caps (`ORDERFLOW_HTTP_*`, `ORDERFLOW_MAX_*`).
    #[command(flatten)]
    pub http: HttpLimits,
}
