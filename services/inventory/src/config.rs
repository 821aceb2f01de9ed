//! The inventory service's settings, read once from the command line or environment variables
//! (`INVENTORY_*` for this service, `ORDERFLOW_*` for settings every service shares). Tests
//! build this struct directly and never touch the process environment.

use std::net::SocketAddr;

use orderflow_auth::AuthSettings;
use orderflow_outbox::StreamSettings;
use orderflow_runtime::limits::HttpLimits;
use secrecy::SecretString;

/// Settings of the inventory service.
#[derive(Debug, Clone, clap::Args)]
pub struct Config {
    /// Address to listen on.
    #[arg(long, env = "INVENTORY_LISTEN", default_value = "127.0.0.1:8082")]
    pub listen: SocketAddr,
    /// PostgreSQL URL of the inventory database.
    #[arg(long, env = "INVENTORY_DATABASE_URL", hide_env_values = true)]
    pub database_url: SecretString,
    /// Largest number of database connections for requests (each consumer worker, the relay
    /// and background work have more: see docs/operations.md).
    #[arg(long, env = "INVENTORY_DB_MAX_CONNECTIONS", default_value_t = 16)]
    pub db_max_connections: usize,
    /// Order-event consumer workers pulling from the one durable consumer. Each applies what
    /// it fetched as one batch in one transaction; two overlap one batch's fetch and acks with
    /// the other's database work. More add little: batches touching the same products queue
    /// on their row locks (taken in one global order, so they never deadlock), and every
    /// worker's fetched messages wait in that queue. Safe in any number because every decision
    /// is per order and idempotent (a cancel applied before its confirm means nothing is ever
    /// reserved for that order).
    #[arg(long, env = "INVENTORY_CONSUMER_WORKERS", default_value_t = 2,
          value_parser = clap::value_parser!(u16).range(1..=64))]
    pub consumer_workers: u16,
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
