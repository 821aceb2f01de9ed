//! The inventory service's settings, read once from the command line or environment variables
//! (`INVENTORY_*` for this service, `ORDERFLOW_*` for settings every service shares). Tests
//! build this struct directly and never touch the process environment.

use std::net::SocketAddr;

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
    /// NATS, logging, tokens, streams and HTTP limits, as every service reads them.
    #[command(flatten)]
    pub common: orderflow_service::Settings,
}
