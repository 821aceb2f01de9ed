//! The SignalR hub protocols as the official clients speak them (see `docs/signalr-wire.md`):
//! the handshake, JSON (record-separator framing) and MessagePack (VarInt-prefixed arrays),
//! the nine hub message types, and the typed server-to-client methods of the OrderFlow hub.

pub mod client_methods;
pub mod codec;
pub mod framing;
pub mod handshake;
pub mod messages;
pub mod msgpack;
pub mod msgpack_value;

pub use client_methods::{ClientMethod, HubTime, Position, ResumeResult, StreamName};
pub use codec::{Frame, Protocol};
pub use framing::{RECORD_SEPARATOR, split_records};
pub use handshake::{HandshakeRequest, parse_handshake};
pub use messages::{HubMessage, Invocation, parse_message};

/// Bytes written as hex pairs (`"91 c0"`), for the protocol tests' expected frames.
#[cfg(test)]
pub(crate) fn hex(s: &str) -> Vec<u8> {
    s.split_whitespace()
        .map(|b| u8::from_str_radix(b, 16).unwrap())
        .collect()
}
