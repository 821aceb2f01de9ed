//! The crate's one error type.

/// Everything that can go wrong when building subjects, reading metadata, converting
/// timestamps or decoding events.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A message arrived with an `Orderflow-Schema` header this crate does not know.
    #[error("unknown event schema `{0}`")]
    UnknownSchema(String),

    /// The bytes are not a valid encoding of the message the schema names.
    #[error("cannot decode {schema}: {source}")]
    Decode {
        /// Full protobuf name of the message that was expected.
        schema: &'static str,
        /// What prost reported.
        #[source]
        source: prost::DecodeError,
    },

    /// An event has no `metadata` (field 1), which every producer must set.
    #[error("{schema} has no metadata")]
    MissingMetadata {
        /// Full protobuf name of the event.
        schema: &'static str,
    },

    /// A field that must hold a UUID does not.
    #[error("field `{field}` of {schema} is not a UUID: `{value}`")]
    InvalidUuid {
        /// Full protobuf name of the message.
        schema: &'static str,
        /// Name of the field.
        field: &'static str,
        /// The value found.
        value: String,
    },

    /// A value cannot be one token of a NATS subject.
    #[error("`{value}` cannot be a subject token: {reason}")]
    InvalidSubjectToken {
        /// The value found.
        value: String,
        /// Which rule it breaks.
        reason: &'static str,
    },

    /// A subject does not have the shape of any OrderFlow event subject.
    #[error("`{0}` is not an OrderFlow event subject")]
    UnknownSubject(String),

    /// A protobuf timestamp outside what `time::OffsetDateTime` can represent, or
    /// with nanoseconds outside 0..1e9.
    #[error("timestamp {seconds}s {nanos}ns is out of range")]
    TimestampOutOfRange {
        /// Seconds since the Unix epoch.
        seconds: i64,
        /// Nanoseconds within the second.
        nanos: i32,
    },
}
