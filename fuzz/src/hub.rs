//! Input of `hub_frames`: the WebSocket text frames one client sends on one connection, and
//! client-side encoders of hub messages (JSON records, and MessagePack bodies for
//! `hub_msgpack`) for the re-encoding checks.
//!
//! Layout: the frames separated by the byte `0xFF`, which never occurs in UTF-8 and so never
//! inside a text frame. The first frame is the handshake, the others carry hub messages, as on
//! a real socket. A frame that is not UTF-8 is skipped: the WebSocket layer refuses it before
//! the gateway's code sees it.

use std::ops::Deref;

use orderflow_gateway::protocol::HubMessage;
use serde_json::{Value, json};

use crate::same_json;

/// Separates frames in the input.
pub const FRAME_SEPARATOR: u8 = 0xFF;

/// The text frames of an input, in order (non-UTF-8 frames are `None`).
pub fn frames(data: &[u8]) -> impl Iterator<Item = Option<&str>> {
    data.split(|b| *b == FRAME_SEPARATOR)
        .map(|frame| std::str::from_utf8(frame).ok())
}

/// An input made of `frames`.
pub fn to_bytes(frames: &[&str]) -> Vec<u8> {
    let mut out = Vec::new();
    for (i, frame) in frames.iter().enumerate() {
        if i > 0 {
            out.push(FRAME_SEPARATOR);
        }
        out.extend_from_slice(frame.as_bytes());
    }
    out
}

/// The record a client would send for `message` (without the separator), with the fields the
/// parser reads. A stream item's `item` is not kept by the parser, so `0` stands in for it.
pub fn encode(message: &HubMessage) -> String {
    let value = match message {
        HubMessage::Invocation(call) => {
            let mut v = json!({ "type": 1, "target": call.target, "arguments": call.arguments });
            if let Some(id) = &call.invocation_id {
                v["invocationId"] = Value::from(id.as_str());
            }
            if !call.stream_ids.is_empty() {
                v["streamIds"] = json!(call.stream_ids);
            }
            v
        }
        HubMessage::StreamItem { invocation_id } => {
            json!({ "type": 2, "invocationId": invocation_id, "item": 0 })
        }
        HubMessage::Completion { invocation_id } => {
            json!({ "type": 3, "invocationId": invocation_id })
        }
        HubMessage::StreamInvocation {
            invocation_id,
            target,
        } => json!({ "type": 4, "invocationId": invocation_id, "target": target, "arguments": [] }),
        HubMessage::CancelInvocation { invocation_id } => {
            json!({ "type": 5, "invocationId": invocation_id })
        }
        HubMessage::Ping => json!({ "type": 6 }),
        HubMessage::Close {
            error,
            allow_reconnect,
        } => {
            let mut v = json!({ "type": 7, "allowReconnect": allow_reconnect });
            if let Some(error) = error {
                v["error"] = Value::from(error.as_str());
            }
            v
        }
        HubMessage::Ack { sequence_id } => json!({ "type": 8, "sequenceId": sequence_id }),
        HubMessage::Sequence { sequence_id } => json!({ "type": 9, "sequenceId": sequence_id }),
        HubMessage::Unknown { message_type } => json!({ "type": message_type }),
    };
    value.to_string()
}

/// The MessagePack body a client would send for `message` (without its length prefix), with
/// the fields the parser reads, in the official client's layout: `[type, headers, id, …]`.
pub fn encode_msgpack(message: &HubMessage) -> Vec<u8> {
    let headers = json!({});
    let value = match message {
        HubMessage::Invocation(call) => json!([
            1,
            headers,
            call.invocation_id,
            call.target,
            call.arguments,
            call.stream_ids
        ]),
        HubMessage::StreamItem { invocation_id } => json!([2, headers, invocation_id, 0]),
        HubMessage::Completion { invocation_id } => json!([3, headers, invocation_id, 2]),
        HubMessage::StreamInvocation {
            invocation_id,
            target,
        } => json!([4, headers, invocation_id, target, [], []]),
        HubMessage::CancelInvocation { invocation_id } => json!([5, headers, invocation_id]),
        HubMessage::Ping => json!([6]),
        HubMessage::Close {
            error,
            allow_reconnect,
        } => json!([7, error, allow_reconnect]),
        HubMessage::Ack { sequence_id } => json!([8, sequence_id]),
        HubMessage::Sequence { sequence_id } => json!([9, sequence_id]),
        HubMessage::Unknown { message_type } => json!([message_type]),
    };
    rmp_serde::to_vec_named(&value).expect("JSON values encode as MessagePack")
}

/// One hub protocol's encoders of the server's answers to a client message, and how a frame
/// the server writes is read back.
pub struct ServerAnswers<F: Deref> {
    pub completion_ok: fn(&str, Option<&Value>) -> F,
    pub completion_error: fn(&str, &str) -> F,
    pub close: fn(Option<&str>, bool) -> F,
    pub ack: fn(u64) -> F,
    pub sequence: fn(u64) -> F,
    /// The one message of a server frame (panics unless the frame holds exactly one).
    pub read: fn(&F::Target) -> HubMessage,
}

impl<F: Deref> ServerAnswers<F> {
    /// The Completions the hub answers an invocation with (with and without a result, with an
    /// error and an empty one) carry the client's `id` back intact; returns them.
    pub fn check_completions(&self, id: &str) -> [F; 4] {
        let frames = [
            (self.completion_ok)(id, None),
            (self.completion_ok)(id, Some(&Value::from(id))),
            (self.completion_error)(id, "Method does not exist."),
            (self.completion_error)(id, ""),
        ];
        for frame in &frames {
            let expected = HubMessage::Completion {
                invocation_id: id.to_owned(),
            };
            assert_eq!((self.read)(frame), expected);
        }
        frames
    }

    /// The server's answers built from what the client said in `message` read back as exactly
    /// what they say: the Close with the client's error, an Ack and a Sequence with its id.
    pub fn check_echoes(&self, message: &HubMessage) {
        match message {
            HubMessage::Close { error, .. } => {
                let close = (self.close)(error.as_deref(), true);
                let expected = HubMessage::Close {
                    error: error.clone(),
                    allow_reconnect: true,
                };
                assert_eq!((self.read)(&close), expected);
            }
            &HubMessage::Ack { sequence_id } | &HubMessage::Sequence { sequence_id } => {
                let ack = (self.ack)(sequence_id);
                assert_eq!((self.read)(&ack), HubMessage::Ack { sequence_id });
                let sequence = (self.sequence)(sequence_id);
                assert_eq!((self.read)(&sequence), HubMessage::Sequence { sequence_id });
            }
            _ => {}
        }
    }
}

/// Messages equal up to the last bit of floating-point arguments (see `same_json`).
pub fn same_message(a: &HubMessage, b: &HubMessage) -> bool {
    match (a, b) {
        (HubMessage::Invocation(a), HubMessage::Invocation(b)) => {
            a.invocation_id == b.invocation_id
                && a.target == b.target
                && a.stream_ids == b.stream_ids
                && a.arguments.len() == b.arguments.len()
                && a.arguments
                    .iter()
                    .zip(&b.arguments)
                    .all(|(x, y)| same_json(x, y))
        }
        _ => a == b,
    }
}
