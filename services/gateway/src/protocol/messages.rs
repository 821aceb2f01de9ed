//! The nine JSON hub message types: parsing what the client sends (with the same validation the
//! .NET server applies) and encoding the control messages the server sends. Property order is
//! never relied on; unknown properties (e.g. `headers`) are ignored.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::framing::terminate;
use crate::error::GatewayError;

/// One message received from a client.
#[derive(Debug, Clone, PartialEq)]
pub enum HubMessage {
    /// Type 1.
    Invocation(Invocation),
    /// Type 2 (upload stream item).
    StreamItem { invocation_id: String },
    /// Type 3 (end of an upload stream, or a client result).
    Completion { invocation_id: String },
    /// Type 4.
    StreamInvocation {
        invocation_id: String,
        target: String,
    },
    /// Type 5.
    CancelInvocation { invocation_id: String },
    /// Type 6.
    Ping,
    /// Type 7: the client leaves deliberately.
    Close {
        error: Option<String>,
        allow_reconnect: bool,
    },
    /// Type 8: the peer has received our sequenced messages `1..=sequence_id`.
    Ack { sequence_id: u64 },
    /// Type 9: the peer will (re)send its sequenced messages from `sequence_id` on.
    Sequence { sequence_id: u64 },
    /// Any other type: ignored for forward compatibility, like the official client does.
    Unknown { message_type: u64 },
}

/// A client's call of a hub method (type 1). No `invocation_id` means fire-and-forget: the
/// server must not reply.
#[derive(Debug, Clone, PartialEq)]
pub struct Invocation {
    /// The id the completion answers to.
    pub invocation_id: Option<String>,
    /// The hub method.
    pub target: String,
    /// Its arguments.
    pub arguments: Vec<Value>,
    /// Upload streams it names (the hub has no streaming methods).
    pub stream_ids: Vec<String>,
}

impl HubMessage {
    /// Types 1–5 are counted and buffered by stateful reconnect; the others never are.
    pub fn is_sequenced(&self) -> bool {
        matches!(
            self,
            Self::Invocation { .. }
                | Self::StreamItem { .. }
                | Self::Completion { .. }
                | Self::StreamInvocation { .. }
                | Self::CancelInvocation { .. }
        )
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawMessage {
    #[serde(rename = "type")]
    message_type: Option<Value>,
    invocation_id: Option<Value>,
    target: Option<Value>,
    arguments: Option<Value>,
    stream_ids: Option<Vec<String>>,
    error: Option<Value>,
    allow_reconnect: Option<Value>,
    sequence_id: Option<Value>,
    item: Option<Value>,
}

fn malformed(why: &str) -> GatewayError {
    GatewayError::Malformed(why.to_owned())
}

pub(super) fn non_empty_string(v: Option<Value>, field: &str) -> Result<String, GatewayError> {
    match v {
        Some(Value::String(s)) if !s.is_empty() => Ok(s),
        _ => Err(GatewayError::Malformed(format!(
            "'{field}' must be a non-empty string"
        ))),
    }
}

/// Parses one record (without its separator).
pub fn parse_message(record: &str) -> Result<HubMessage, GatewayError> {
    let raw: RawMessage =
        serde_json::from_str(record).map_err(|_| malformed("record is not a JSON object"))?;
    let message_type = raw
        .message_type
        .as_ref()
        .and_then(Value::as_u64)
        .ok_or_else(|| malformed("'type' is missing or not a number"))?;
    let optional_id = || match raw.invocation_id.clone() {
        None | Some(Value::Null) => Ok(None),
        some => non_empty_string(some, "invocationId").map(Some),
    };
    Ok(match message_type {
        1 => HubMessage::Invocation(Invocation {
            invocation_id: optional_id()?,
            target: non_empty_string(raw.target, "target")?,
            arguments: match raw.arguments {
                Some(Value::Array(a)) => a,
                _ => return Err(malformed("'arguments' must be an array")),
            },
            stream_ids: raw.stream_ids.unwrap_or_default(),
        }),
        2 => {
            if raw.item.is_none() {
                return Err(malformed("stream item without 'item'"));
            }
            HubMessage::StreamItem {
                invocation_id: non_empty_string(raw.invocation_id, "invocationId")?,
            }
        }
        3 => HubMessage::Completion {
            invocation_id: non_empty_string(raw.invocation_id, "invocationId")?,
        },
        4 => HubMessage::StreamInvocation {
            invocation_id: non_empty_string(raw.invocation_id, "invocationId")?,
            target: non_empty_string(raw.target, "target")?,
        },
        5 => HubMessage::CancelInvocation {
            invocation_id: non_empty_string(raw.invocation_id, "invocationId")?,
        },
        6 => HubMessage::Ping,
        7 => HubMessage::Close {
            error: raw.error.and_then(|e| e.as_str().map(str::to_owned)),
            allow_reconnect: raw
                .allow_reconnect
                .and_then(|v| v.as_bool())
                .unwrap_or(false),
        },
        8 | 9 => {
            let sequence_id = raw
                .sequence_id
                .as_ref()
                .and_then(Value::as_u64)
                .ok_or_else(|| malformed("'sequenceId' must be a non-negative integer"))?;
            ack_or_sequence(message_type, sequence_id)
        }
        other => HubMessage::Unknown {
            message_type: other,
        },
    })
}

#[derive(Serialize)]
struct OutgoingInvocation<'a, T: Serialize> {
    #[serde(rename = "type")]
    message_type: u8,
    target: &'a str,
    arguments: [&'a T; 1],
}

/// A server-to-client call without an id, `{"type":1,"target":…,"arguments":[argument]}␞`.
pub fn invocation<T: Serialize>(target: &str, argument: &T) -> String {
    let record = OutgoingInvocation {
        message_type: 1,
        target,
        arguments: [argument],
    };
    // Serializing plain structs of strings and numbers cannot fail.
    terminate(serde_json::to_string(&record).unwrap_or_default())
}

/// Type 8 (Ack) or 9 (Sequence) with its number, in either protocol.
pub(super) fn ack_or_sequence(message_type: u64, sequence_id: u64) -> HubMessage {
    if message_type == 8 {
        HubMessage::Ack { sequence_id }
    } else {
        HubMessage::Sequence { sequence_id }
    }
}

/// `{"type":6}␞`.
pub const PING: &str = "{\"type\":6}\u{1e}";

/// A successful Completion, with or without a result value.
pub fn completion_ok(invocation_id: &str, result: Option<&Value>) -> String {
    let mut v = serde_json::json!({ "type": 3, "invocationId": invocation_id });
    if let Some(result) = result {
        v["result"] = result.clone();
    }
    terminate(v.to_string())
}

/// A failed Completion. The message must be non-empty: the client treats `""` as success.
pub fn completion_error(invocation_id: &str, error: &str) -> String {
    let error = if error.is_empty() { "error" } else { error };
    terminate(
        serde_json::json!({ "type": 3, "invocationId": invocation_id, "error": error }).to_string(),
    )
}

/// A Close message; with `allow_reconnect` the client's automatic reconnect takes over.
pub fn close(error: Option<&str>, allow_reconnect: bool) -> String {
    let mut v = serde_json::json!({ "type": 7 });
    if let Some(error) = error {
        v["error"] = Value::from(error);
    }
    if allow_reconnect {
        v["allowReconnect"] = Value::Bool(true);
    }
    terminate(v.to_string())
}

/// `{"type":8,"sequenceId":N}␞`.
pub fn ack(sequence_id: u64) -> String {
    format!("{{\"type\":8,\"sequenceId\":{sequence_id}}}\u{1e}")
}

/// `{"type":9,"sequenceId":N}␞`.
pub fn sequence(sequence_id: u64) -> String {
    format!("{{\"type\":9,\"sequenceId\":{sequence_id}}}\u{1e}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::hex;

    #[test]
    fn parses_invocations_from_both_client_generations() {
        // 10.x key order, then 8.x key order: property order must not matter.
        for record in [
            r#"{"target":"Add","arguments":[2,3],"invocationId":"0","type":1}"#,
            r#"{"arguments":[2,3],"invocationId":"0","target":"Add","type":1}"#,
        ] {
            assert_eq!(
                parse_message(record).unwrap(),
                HubMessage::Invocation(Invocation {
                    invocation_id: Some("0".into()),
                    target: "Add".into(),
                    arguments: vec![2.into(), 3.into()],
                    stream_ids: vec![],
                })
            );
        }
        let send = parse_message(r#"{"target":"Log","arguments":["x"],"type":1}"#).unwrap();
        assert!(matches!(
            send,
            HubMessage::Invocation(Invocation {
                invocation_id: None,
                ..
            })
        ));
    }

    #[test]
    fn parses_control_messages() {
        assert_eq!(parse_message(r#"{"type":6}"#).unwrap(), HubMessage::Ping);
        assert_eq!(
            parse_message(r#"{"type":7}"#).unwrap(),
            HubMessage::Close {
                error: None,
                allow_reconnect: false
            }
        );
        assert_eq!(
            parse_message(r#"{"type":8,"sequenceId":8}"#).unwrap(),
            HubMessage::Ack { sequence_id: 8 }
        );
        assert_eq!(
            parse_message(r#"{"type":9,"sequenceId":2}"#).unwrap(),
            HubMessage::Sequence { sequence_id: 2 }
        );
        assert_eq!(
            parse_message(r#"{"type":42,"x":1}"#).unwrap(),
            HubMessage::Unknown { message_type: 42 }
        );
        assert!(
            parse_message(r#"{"type":5,"invocationId":"2"}"#)
                .unwrap()
                .is_sequenced()
        );
        assert!(!parse_message(r#"{"type":6}"#).unwrap().is_sequenced());
    }

    #[test]
    fn refuses_invalid_messages() {
        for bad in [
            "not json",
            "[]",
            r#"{"target":"A","arguments":[]}"#,
            r#"{"type":"1","target":"A","arguments":[]}"#,
            r#"{"type":1,"target":"","arguments":[]}"#,
            r#"{"type":1,"target":"A","arguments":{}}"#,
            r#"{"type":1,"target":"A","arguments":[],"invocationId":""}"#,
            r#"{"type":2,"invocationId":"1"}"#,
            r#"{"type":8}"#,
            r#"{"type":9,"sequenceId":"3"}"#,
        ] {
            assert!(parse_message(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn control_messages_have_the_documented_bytes() {
        assert_eq!(PING.as_bytes(), hex("7B 22 74 79 70 65 22 3A 36 7D 1E"));
        assert_eq!(
            ack(3).as_bytes(),
            hex("7B 22 74 79 70 65 22 3A 38 2C 22 73 65 71 75 65 6E 63 65 49 64 22 3A 33 7D 1E")
        );
        assert_eq!(
            sequence(4).as_bytes(),
            hex("7B 22 74 79 70 65 22 3A 39 2C 22 73 65 71 75 65 6E 63 65 49 64 22 3A 34 7D 1E")
        );
    }

    fn json_of(record: &str) -> Value {
        serde_json::from_str(record.strip_suffix('\u{1e}').unwrap()).unwrap()
    }

    #[test]
    fn completions_and_close() {
        assert_eq!(
            json_of(&completion_ok("0", Some(&Value::from(5)))),
            serde_json::json!({"type":3,"invocationId":"0","result":5})
        );
        assert_eq!(
            json_of(&completion_ok("0", None)),
            serde_json::json!({"type":3,"invocationId":"0"})
        );
        assert_eq!(
            json_of(&completion_error("0", "Room is full")),
            serde_json::json!({"type":3,"invocationId":"0","error":"Room is full"})
        );
        assert_eq!(json_of(&completion_error("0", ""))["error"], "error");
        assert_eq!(
            json_of(&close(Some("Server shutting down"), true)),
            serde_json::json!({"type":7,"error":"Server shutting down","allowReconnect":true})
        );
        assert_eq!(close(None, false), "{\"type\":7}\u{1e}");
    }
}
