//! The crate's single error type: everything that can go wrong while finding, installing or
//! running the test servers.

use std::path::PathBuf;

/// Errors raised while provisioning or running nats-server and PostgreSQL.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A required binary could not be found anywhere we look.
    #[error("{what} not found: {hint}")]
    ToolMissing { what: &'static str, hint: String },

    /// A filesystem or process operation failed.
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },

    /// A helper command (initdb, ...) exited unsuccessfully.
    #[error("`{program}` failed ({status}):\n{output}")]
    CommandFailed {
        program: String,
        status: String,
        output: String,
    },

    /// A server process exited before it became ready.
    #[error("{what} exited during startup ({status}); last log lines from {log}:\n{tail}")]
    ExitedEarly {
        what: String,
        status: String,
        log: PathBuf,
        tail: String,
    },

    /// A server process did not become ready in time.
    #[error("{what} was not ready after {secs}s; last log lines from {log}:\n{tail}")]
    NotReady {
        what: String,
        secs: u64,
        log: PathBuf,
        tail: String,
    },

    /// PostgreSQL refuses to run as root and there is no unprivileged user to run it as.
    #[error(
        "running as root, but user `{0}` does not exist to run PostgreSQL as \
         (install the Debian package `postgresql`, which creates it, or `useradd --system {0}`)"
    )]
    NoUnprivilegedUser(String),

    /// A SQL statement against the test server failed.
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
}

impl Error {
    /// Wraps an I/O error with a short description of what we were doing.
    pub(crate) fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        Error::Io {
            context: context.into(),
            source,
        }
    }
}

/// The crate's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;
