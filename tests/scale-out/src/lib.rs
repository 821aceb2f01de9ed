//! Harness of the scale-out test (`tests/failover.rs`): a gateway that can be killed without
//! killing the test process ([`gateway::KillableGateway`]), and the bookkeeping that turns the
//! JSON lines of the Node SignalR clients into "lost / duplicated / caught up" answers
//! ([`ledger::Ledger`]).

pub mod gateway;
pub mod ledger;

/// What can go wrong while setting up the harness.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The gateway did not build or bind.
    #[error("starting a gateway: {0}")]
    Gateway(#[from] orderflow_gateway::GatewayError),
    /// A runtime or thread could not be created.
    #[error("starting a gateway runtime: {0}")]
    Io(#[from] std::io::Error),
    /// The gateway's thread ended before reporting its address.
    #[error("the gateway thread ended before it was ready")]
    Vanished,
    /// A client line was not the JSON the clients script writes.
    #[error("unreadable client line {line:?}: {source}")]
    ClientLine {
        /// The line as read.
        line: String,
        /// Why it did not parse.
        source: serde_json::Error,
    },
}
