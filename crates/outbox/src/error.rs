//! The outbox crate's error type.

/// Everything that can go wrong while enqueueing, relaying or setting up streams.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A database statement failed.
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    /// Applying the outbox migrations failed.
    #[error("outbox migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// A JetStream publish was not acknowledged.
    #[error("publish of event {event_id} to {subject} failed: {reason}")]
    Publish {
        /// The event that was not stored.
        event_id: uuid::Uuid,
        /// Its subject.
        subject: String,
        /// What JetStream or the client said.
        reason: String,
    },
    /// Creating or updating a stream failed.
    #[error("stream {stream} could not be created or updated: {reason}")]
    Stream {
        /// The stream name.
        stream: String,
        /// What JetStream said.
        reason: String,
    },
}
