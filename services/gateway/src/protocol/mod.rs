//! The SignalR JSON hub protocol as the official `@microsoft/signalr` client speaks it
//! (see `docs/signalr-wire.md`): record-separator framing, the handshake, the nine hub
//! message types, and the typed server-to-client methods of the OrderFlow hub.

pub mod client_methods;
pub mod framing;
pub mod handshake;
pub mod messages;

pub use client_methods::{ClientMethod, Position, ResumeResult, StreamName};
pub use framing::{RECORD_SEPARATOR, split_records};
pub use handshake::{HandshakeRequest, parse_handshake};
pub use messages::{HubMessage, parse_message};
