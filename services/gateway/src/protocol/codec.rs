//! The hub protocol a connection chose in its handshake, and the frames it sends: every
//! message the gateway writes goes through [`Protocol`], so sessions, the hub methods and the
//! stateful buffer never care which protocol they speak. JSON travels in text WebSocket
//! messages, MessagePack in binary ones (docs/signalr-wire.md).

use axum::extract::ws::{Message, Utf8Bytes};
use bytes::Bytes;
use serde::Serialize;
use serde_json::Value;

use super::handshake::HANDSHAKE_OK;
use super::{messages, msgpack, split_records};
use crate::error::GatewayError;
use crate::protocol::HubMessage;

/// A hub protocol the gateway speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Protocol {
    /// `json`: text messages of records ending in 0x1E.
    #[default]
    Json,
    /// `messagepack`: binary messages of VarInt-prefixed MessagePack arrays.
    MessagePack,
}

impl Protocol {
    /// Both protocols; a delivery is encoded at most once for each.
    pub const ALL: [Protocol; 2] = [Protocol::Json, Protocol::MessagePack];

    /// The handshake's name for it.
    pub fn name(self) -> &'static str {
        match self {
            Protocol::Json => "json",
            Protocol::MessagePack => "messagepack",
        }
    }

    /// The success answer to the handshake. It is JSON in both protocols; for MessagePack it
    /// travels in a binary message, as ASP.NET Core sends it once the format is known.
    pub fn handshake_ok(self) -> Frame {
        match self {
            Protocol::Json => Frame::Text(Utf8Bytes::from_static(HANDSHAKE_OK)),
            Protocol::MessagePack => Frame::Binary(Bytes::from_static(HANDSHAKE_OK.as_bytes())),
        }
    }

    /// A Ping.
    pub fn ping(self) -> Frame {
        match self {
            Protocol::Json => Frame::Text(Utf8Bytes::from_static(messages::PING)),
            Protocol::MessagePack => Frame::binary(msgpack::ping()),
        }
    }

    /// An Ack of inbound messages `1..=sequence_id`.
    pub fn ack(self, sequence_id: u64) -> Frame {
        match self {
            Protocol::Json => Frame::text(messages::ack(sequence_id)),
            Protocol::MessagePack => Frame::binary(msgpack::ack(sequence_id)),
        }
    }

    /// The Sequence that starts a resend after a re-attach.
    pub fn sequence(self, sequence_id: u64) -> Frame {
        match self {
            Protocol::Json => Frame::text(messages::sequence(sequence_id)),
            Protocol::MessagePack => Frame::binary(msgpack::sequence(sequence_id)),
        }
    }

    /// A Close; with `allow_reconnect` the client's automatic reconnect takes over.
    pub fn close(self, error: Option<&str>, allow_reconnect: bool) -> Frame {
        match self {
            Protocol::Json => Frame::text(messages::close(error, allow_reconnect)),
            Protocol::MessagePack => Frame::binary(msgpack::close(error, allow_reconnect)),
        }
    }

    /// A successful Completion, with or without a result.
    pub fn completion_ok(self, invocation_id: &str, result: Option<&Value>) -> Frame {
        match self {
            Protocol::Json => Frame::text(messages::completion_ok(invocation_id, result)),
            Protocol::MessagePack => Frame::binary(msgpack::completion_ok(invocation_id, result)),
        }
    }

    /// A failed Completion.
    pub fn completion_error(self, invocation_id: &str, error: &str) -> Frame {
        match self {
            Protocol::Json => Frame::text(messages::completion_error(invocation_id, error)),
            Protocol::MessagePack => Frame::binary(msgpack::completion_error(invocation_id, error)),
        }
    }

    /// A server-to-client call of `target` with one argument, through serde (the hot
    /// `OrderStatusChanged` JSON record has a direct encoder of its own).
    pub fn invocation<T: Serialize>(self, target: &'static str, argument: &T) -> Frame {
        match self {
            Protocol::Json => Frame::text(messages::invocation(target, argument)),
            Protocol::MessagePack => Frame::binary(msgpack::invocation(target, argument)),
        }
    }

    /// The hub messages of one inbound WebSocket message: text for JSON, binary for
    /// MessagePack; the other kind is a protocol error.
    pub fn parse(self, message: &Message) -> Result<Vec<HubMessage>, GatewayError> {
        match (self, message) {
            (Protocol::Json, Message::Text(text)) => split_records(text.as_str())?
                .into_iter()
                .map(messages::parse_message)
                .collect(),
            (Protocol::MessagePack, Message::Binary(data)) => msgpack::split_messages(data)?
                .into_iter()
                .map(msgpack::parse_message)
                .collect(),
            (Protocol::Json, _) => Err(GatewayError::BinaryFrame),
            (Protocol::MessagePack, _) => Err(GatewayError::TextFrame),
        }
    }
}

/// One WebSocket message's worth of encoded hub messages, shared cheaply (`Bytes` inside).
#[derive(Debug, Clone, PartialEq)]
pub enum Frame {
    /// JSON records.
    Text(Utf8Bytes),
    /// MessagePack messages.
    Binary(Bytes),
}

impl Frame {
    /// A text frame.
    pub fn text(text: String) -> Frame {
        Frame::Text(Utf8Bytes::from(text))
    }

    /// A binary frame.
    pub fn binary(data: Vec<u8>) -> Frame {
        Frame::Binary(Bytes::from(data))
    }

    /// Its size in bytes.
    pub fn len(&self) -> usize {
        match self {
            Frame::Text(text) => text.len(),
            Frame::Binary(data) => data.len(),
        }
    }

    /// Whether it holds nothing.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The WebSocket message that carries it.
    pub fn into_message(self) -> Message {
        match self {
            Frame::Text(text) => Message::Text(text),
            Frame::Binary(data) => Message::Binary(data),
        }
    }

    /// Frames of one protocol written as one WebSocket message: both protocols allow several
    /// hub messages per message, and the client splits them.
    pub fn concat<'a>(frames: impl Iterator<Item = &'a Frame> + Clone) -> Frame {
        let total = frames.clone().map(Frame::len).sum();
        let mut first = frames.clone();
        match first.next() {
            Some(Frame::Text(_)) => {
                let mut joined = String::with_capacity(total);
                for frame in frames {
                    if let Frame::Text(text) = frame {
                        joined.push_str(text.as_str());
                    }
                }
                Frame::text(joined)
            }
            Some(Frame::Binary(_)) => {
                let mut joined = Vec::with_capacity(total);
                for frame in frames {
                    if let Frame::Binary(data) = frame {
                        joined.extend_from_slice(data);
                    }
                }
                Frame::binary(joined)
            }
            None => Frame::Text(Utf8Bytes::from_static("")),
        }
    }

    /// The text, for JSON frames (tests and diagnostics).
    pub fn as_text(&self) -> Option<&str> {
        match self {
            Frame::Text(text) => Some(text.as_str()),
            Frame::Binary(_) => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_protocol_parses_its_own_kind_of_message_only() {
        let json = Message::Text("{\"type\":6}\u{1e}".into());
        let binary = Message::Binary(Bytes::from(msgpack::ping()));
        assert_eq!(Protocol::Json.parse(&json).unwrap(), vec![HubMessage::Ping]);
        assert_eq!(
            Protocol::MessagePack.parse(&binary).unwrap(),
            vec![HubMessage::Ping]
        );
        assert!(matches!(
            Protocol::Json.parse(&binary),
            Err(GatewayError::BinaryFrame)
        ));
        assert!(matches!(
            Protocol::MessagePack.parse(&json),
            Err(GatewayError::TextFrame)
        ));
    }

    #[test]
    fn concatenated_frames_keep_every_message() {
        for protocol in Protocol::ALL {
            let frames = [protocol.ping(), protocol.ack(2)];
            let joined = Frame::concat(frames.iter());
            assert_eq!(joined.len(), frames[0].len() + frames[1].len());
            assert_eq!(
                protocol.parse(&joined.into_message()).unwrap(),
                vec![HubMessage::Ping, HubMessage::Ack { sequence_id: 2 }]
            );
        }
    }
}
