//! The gateway's one error type. Protocol errors close only the connection that caused them;
//! the message is what the client sees in its Close or handshake error, so it never echoes
//! secrets or large client input.

/// Everything that can go wrong in the gateway.
#[derive(Debug, thiserror::Error)]
pub enum GatewayError {
    /// A WebSocket message did not end exactly on a record separator.
    #[error("Message is incomplete: every record must end with the record separator.")]
    IncompleteRecord,
    /// Two separators in a row, or a separator alone.
    #[error("Empty record.")]
    EmptyRecord,
    /// A record that is not a valid hub message.
    #[error("Malformed hub message: {0}")]
    Malformed(String),
    /// The handshake was refused.
    #[error("{0}")]
    Handshake(String),
    /// A position that is not `<STREAM>:<sequence>`.
    #[error("Invalid position: expected \"ORDERS:<n>\" or \"INVENTORY:<n>\".")]
    BadPosition,
    /// A binary frame on the JSON protocol.
    #[error("Binary frames are not supported by the JSON hub protocol.")]
    BinaryFrame,
    /// A text frame on the MessagePack protocol.
    #[error("Text frames are not supported by the MessagePack hub protocol.")]
    TextFrame,
    /// A Sequence from the client claims messages the server never received.
    #[error("Sequence ID greater than amount of messages we've received.")]
    SequenceAhead,
    /// NATS is unreachable at start-up.
    #[error("cannot connect to NATS: {0}")]
    Nats(#[from] async_nats::ConnectError),
    /// The listener could not be bound.
    #[error("cannot listen: {0}")]
    Io(#[from] std::io::Error),
    /// The authentication settings are unusable.
    #[error("invalid authentication settings: {0}")]
    Auth(#[from] orderflow_auth::AuthError),
}
