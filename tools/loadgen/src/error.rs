//! The load generator's one error type: everything that can stop a benchmark run.

/// Why a benchmark run failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The gateway binary was not found or could not be started.
    #[error("gateway process: {0}")]
    Gateway(String),
    /// Reading `/proc` for the gateway's memory or CPU failed.
    #[error("reading /proc/{pid}/{file}: {reason}")]
    Proc {
        pid: u32,
        file: &'static str,
        reason: String,
    },
    /// Too few file descriptors for the requested number of connections.
    #[error(
        "RLIMIT_NOFILE is {have}, {need} are needed; raise it first, e.g. `ulimit -Hn {need}; ulimit -n {need}` (as root)"
    )]
    FileLimit { have: u64, need: u64 },
    /// NATS or JetStream failed.
    #[error("nats: {0}")]
    Nats(String),
    /// A client could not negotiate, open its socket, or handshake.
    #[error("client {index}: {reason}")]
    Client { index: usize, reason: String },
    /// Local I/O.
    #[error("io: {0}")]
    Io(#[from] std::io::Error),
}
