//! Input of `hub_frames`: the WebSocket text frames one client sends on one connection, and a
//! client-side encoder of hub messages for the re-encoding checks.
//!
//! Layout: the frames separated by the byte `0xFF`, which never occurs in UTF-8 and so never
//! inside a text frame. The first frame is the handshake, the others carry hub messages, as on
//! a real socket. A frame that is not UTF-8 is skipped: the WebSocket layer refuses it before
//! the gateway's code sees it.

use orderflow_gateway::protocol::HubMessage;
use serde_json::{Value, json};

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
        HubMessage::Invocation {
            invocation_id,
            target,
            arguments,
            stream_ids,
        } => {
            let mut v = json!({ "type": 1, "target": target, "arguments": arguments });
            if let Some(id) = invocation_id {
                v["invocationId"] = Value::from(id.as_str());
            }
            if !stream_ids.is_empty() {
                v["streamIds"] = json!(stream_ids);
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
