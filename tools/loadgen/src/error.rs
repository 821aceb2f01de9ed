//! The load generator's one error type: everything that can stop a benchmark run or one of its
//! clients.

/// Why a benchmark run (or one client's attempt) failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The gateway binary was not found or could not be started.
    #[error("gateway process: {0}")]
    Gateway(String),
    /// The floor server process could not be started.
    #[error("floor server: {0}")]
    Floor(String),
    /// Reading `/proc` for a process's memory or CPU failed.
    #[error("reading /proc/{pid}/{file}: {reason}")]
    Proc {
        pid: u32,
        file: &'static str,
        reason: String,
    },
    /// Too few file descriptors for the requested number of connections.
    #[error(
        "RLIMIT_NOFILE is {have}, {need} are needed; raise it in the shell that runs the \
         benchmark first, e.g. `ulimit -n {need}` (above the hard limit `ulimit -Hn`, only as root)"
    )]
    FileLimit { have: u64, need: u64 },
    /// NATS or JetStream failed.
    #[error("nats: {0}")]
    Nats(String),
    /// A server sent something this client does not understand.
    #[error("protocol: {0}")]
    Protocol(String),
    /// A client could not negotiate, open its socket, or handshake.
    #[error("client {index}: {reason}")]
    Client { index: usize, reason: String },
    /// A storm turn could not reach the state it measures (e.g. not every client connected).
    #[error("storm: {0}")]
    Storm(String),
    /// A delivery turn could not reach the state it measures (e.g. no connection opened).
    #[error("delivery: {0}")]
    Delivery(String),
    /// Local I/O.
    #[error("io: {0}")]
    Io(#[from] std::io::Error),
}
