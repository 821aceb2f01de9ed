//! The SignalR MessagePack hub protocol (`{"protocol":"messagepack","version":1|2}`), as
//! `@microsoft/signalr-protocol-msgpack` and the .NET, Java and Python clients speak it (see
//! `docs/signalr-wire.md`, "MessagePack"): binary WebSocket messages holding one or more hub
//! messages, each behind a VarInt length prefix, each a MessagePack array whose first element is
//! the message type. The fields and their meaning are the JSON protocol's; only the encoding
//! differs (timestamps are the MessagePack timestamp extension, see
//! [`super::client_methods::HubTime`]).

use std::io::Cursor;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::messages::{HubMessage, Invocation};
use super::msgpack_value::HubValue;
use crate::error::GatewayError;

/// A VarInt length prefix has at most five bytes (lengths below 2 GiB).
const MAX_PREFIX_BYTES: usize = 5;
/// Nesting deeper than this in a client's message is refused: the hub's own arguments are at
/// most two levels deep, and a bound keeps a crafted message from recursing without limit.
const MAX_DEPTH: usize = 16;

fn malformed(why: &str) -> GatewayError {
    GatewayError::Malformed(why.to_owned())
}

/// Splits one binary WebSocket message into its hub messages (without their prefixes).
///
/// Like the JSON protocol's records, a message must end exactly where its last hub message
/// ends: a truncated prefix or body is refused, never buffered, and so is an empty message.
pub fn split_messages(frame: &[u8]) -> Result<Vec<&[u8]>, GatewayError> {
    if frame.is_empty() {
        return Err(malformed("empty binary message"));
    }
    let mut messages = Vec::new();
    let mut rest = frame;
    while !rest.is_empty() {
        let (length, prefix) = read_length(rest)?;
        let body = rest
            .get(prefix..prefix + length)
            .ok_or_else(|| malformed("message shorter than its length prefix"))?;
        if body.is_empty() {
            return Err(malformed("zero-length hub message"));
        }
        messages.push(body);
        rest = &rest[prefix + length..];
    }
    Ok(messages)
}

/// The length a prefix announces, and how many bytes the prefix took.
fn read_length(bytes: &[u8]) -> Result<(usize, usize), GatewayError> {
    let mut length: u64 = 0;
    for (i, byte) in bytes.iter().take(MAX_PREFIX_BYTES).enumerate() {
        length |= u64::from(byte & 0x7F) << (7 * i);
        if byte & 0x80 == 0 {
            if i == MAX_PREFIX_BYTES - 1 && *byte > 7 {
                return Err(malformed("length prefix above 2 GiB"));
            }
            // Cannot overflow: at most 31 bits.
            return Ok((length as usize, i + 1));
        }
    }
    Err(malformed("truncated or over-long length prefix"))
}

/// Appends `body` behind its VarInt length prefix.
pub fn write_message(out: &mut Vec<u8>, body: &[u8]) {
    let mut length = body.len();
    loop {
        let low = (length & 0x7F) as u8;
        length >>= 7;
        if length == 0 {
            out.push(low);
            break;
        }
        out.push(low | 0x80);
    }
    out.extend_from_slice(body);
}

/// `value` encoded (structs as maps with their field names, as the JSON protocol's objects)
/// and framed.
pub fn framed<T: Serialize + ?Sized>(value: &T) -> Vec<u8> {
    // Serializing plain tuples, strings, numbers and the hub's own structs cannot fail.
    let body = rmp_serde::to_vec_named(value).unwrap_or_default();
    let mut out = Vec::with_capacity(body.len() + MAX_PREFIX_BYTES);
    write_message(&mut out, &body);
    out
}

/// An empty headers map (`{}`), which every message with headers carries.
#[derive(Serialize)]
pub struct NoHeaders {}

/// Parses one hub message (without its prefix).
pub fn parse_message(body: &[u8]) -> Result<HubMessage, GatewayError> {
    let mut de = rmp_serde::Deserializer::new(Cursor::new(body));
    de.set_max_depth(MAX_DEPTH);
    // Timestamps in arguments read as RFC 3339 strings (see `msgpack_value`).
    let fields = Vec::<HubValue>::deserialize(&mut de)
        .map_err(|_| malformed("not a MessagePack array of hub message fields"))?;
    if de.position() != body.len() as u64 {
        return Err(malformed("bytes after the end of the hub message"));
    }
    let mut fields = fields.into_iter().map(|HubValue(v)| v);
    let message_type = fields
        .next()
        .as_ref()
        .and_then(Value::as_u64)
        .ok_or_else(|| malformed("the message type is missing or not a number"))?;
    let mut field = |name: &str| {
        fields
            .next()
            .ok_or_else(|| GatewayError::Malformed(format!("'{name}' is missing")))
    };
    Ok(match message_type {
        1 | 4 => {
            headers(field("headers")?)?;
            let invocation_id = match field("invocationId")? {
                Value::Null => None,
                id => Some(non_empty_string(id, "invocationId")?),
            };
            let target = non_empty_string(field("target")?, "target")?;
            let Value::Array(arguments) = field("arguments")? else {
                return Err(malformed("'arguments' must be an array"));
            };
            let stream_ids = match field("streamIds") {
                Err(_) => Vec::new(),
                Ok(Value::Array(ids)) => ids
                    .into_iter()
                    .map(|id| non_empty_string(id, "streamIds"))
                    .collect::<Result<_, _>>()?,
                Ok(_) => return Err(malformed("'streamIds' must be an array")),
            };
            if message_type == 1 {
                HubMessage::Invocation(Invocation {
                    invocation_id,
                    target,
                    arguments,
                    stream_ids,
                })
            } else {
                HubMessage::StreamInvocation {
                    invocation_id: invocation_id
                        .ok_or_else(|| malformed("a stream invocation needs an invocationId"))?,
                    target,
                }
            }
        }
        2 => {
            headers(field("headers")?)?;
            let invocation_id = non_empty_string(field("invocationId")?, "invocationId")?;
            field("item")?;
            HubMessage::StreamItem { invocation_id }
        }
        3 => {
            headers(field("headers")?)?;
            let invocation_id = non_empty_string(field("invocationId")?, "invocationId")?;
            match field("resultKind")?.as_u64() {
                Some(1 | 3) => {
                    field("result")?;
                }
                Some(2) => {}
                _ => return Err(malformed("'resultKind' must be 1, 2 or 3")),
            }
            HubMessage::Completion { invocation_id }
        }
        5 => {
            headers(field("headers")?)?;
            HubMessage::CancelInvocation {
                invocation_id: non_empty_string(field("invocationId")?, "invocationId")?,
            }
        }
        6 => HubMessage::Ping,
        7 => HubMessage::Close {
            error: match field("error")? {
                Value::Null => None,
                Value::String(error) => Some(error),
                _ => return Err(malformed("'error' must be a string or nil")),
            },
            allow_reconnect: field("allowReconnect")
                .ok()
                .and_then(|v| v.as_bool())
                .unwrap_or(false),
        },
        8 | 9 => {
            let sequence_id = field("sequenceId")?
                .as_u64()
                .ok_or_else(|| malformed("'sequenceId' must be a non-negative integer"))?;
            super::messages::ack_or_sequence(message_type, sequence_id)
        }
        other => HubMessage::Unknown {
            message_type: other,
        },
    })
}

/// Headers are a map of strings to strings; the hub reads none of them.
fn headers(value: Value) -> Result<(), GatewayError> {
    match value {
        Value::Object(map) if map.values().all(Value::is_string) => Ok(()),
        _ => Err(malformed("'headers' must be a map of strings")),
    }
}

fn non_empty_string(value: Value, field: &str) -> Result<String, GatewayError> {
    super::messages::non_empty_string(Some(value), field)
}

/// `[6]`.
pub fn ping() -> Vec<u8> {
    framed(&(6,))
}

/// A successful Completion: `[3, {}, id, 2]` without a result, `[3, {}, id, 3, result]` with one.
pub fn completion_ok(invocation_id: &str, result: Option<&Value>) -> Vec<u8> {
    match result {
        None => framed(&(3, NoHeaders {}, invocation_id, 2)),
        Some(result) => framed(&(3, NoHeaders {}, invocation_id, 3, result)),
    }
}

/// A failed Completion, `[3, {}, id, 1, error]` (the error never empty, as in JSON).
pub fn completion_error(invocation_id: &str, error: &str) -> Vec<u8> {
    let error = if error.is_empty() { "error" } else { error };
    framed(&(3, NoHeaders {}, invocation_id, 1, error))
}

/// `[7, error, allowReconnect]`.
pub fn close(error: Option<&str>, allow_reconnect: bool) -> Vec<u8> {
    framed(&(7, error, allow_reconnect))
}

/// `[8, sequenceId]`.
pub fn ack(sequence_id: u64) -> Vec<u8> {
    framed(&(8, sequence_id))
}

/// `[9, sequenceId]`.
pub fn sequence(sequence_id: u64) -> Vec<u8> {
    framed(&(9, sequence_id))
}

/// A server-to-client call without an id: `[1, {}, nil, target, [argument]]`.
pub fn invocation<T: Serialize>(target: &str, argument: &T) -> Vec<u8> {
    framed(&(1, NoHeaders {}, None::<&str>, target, [argument]))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::hex;

    fn one(frame: &[u8]) -> HubMessage {
        let messages = split_messages(frame).unwrap();
        assert_eq!(messages.len(), 1);
        parse_message(messages[0]).unwrap()
    }

    #[test]
    fn control_messages_have_the_documented_bytes() {
        assert_eq!(ping(), hex("02 91 06"));
        assert_eq!(ack(3), hex("03 92 08 03"));
        assert_eq!(sequence(300), hex("05 92 09 CD 01 2C"));
        assert_eq!(close(None, true), hex("04 93 07 C0 C3"));
        assert_eq!(completion_ok("1", None), hex("06 94 03 80 A1 31 02"));
        assert_eq!(
            completion_error("1", "no"),
            hex("09 95 03 80 A1 31 01 A2 6E 6F")
        );
    }

    #[test]
    fn parses_what_the_official_client_sends() {
        // HubConnection.invoke("Resume", ["ORDERS:7"]) from @microsoft/signalr-protocol-msgpack:
        // [1, {}, "0", "Resume", [["ORDERS:7"]], []].
        let mut body = vec![0x96, 0x01, 0x80, 0xA1, b'0', 0xA6];
        body.extend_from_slice(b"Resume");
        body.extend_from_slice(&[0x91, 0x91, 0xA8]);
        body.extend_from_slice(b"ORDERS:7");
        body.push(0x90);
        let mut frame = Vec::new();
        write_message(&mut frame, &body);
        assert_eq!(
            one(&frame),
            HubMessage::Invocation(Invocation {
                invocation_id: Some("0".into()),
                target: "Resume".into(),
                arguments: vec![serde_json::json!(["ORDERS:7"])],
                stream_ids: vec![],
            })
        );
        assert_eq!(one(&ping()), HubMessage::Ping);
        assert_eq!(one(&ack(9)), HubMessage::Ack { sequence_id: 9 });
        assert_eq!(one(&sequence(2)), HubMessage::Sequence { sequence_id: 2 });
        assert_eq!(
            one(&close(Some("bye"), false)),
            HubMessage::Close {
                error: Some("bye".into()),
                allow_reconnect: false
            }
        );
        // A Close from an older client: [7, nil].
        assert_eq!(
            one(&hex("03 92 07 C0")),
            HubMessage::Close {
                error: None,
                allow_reconnect: false
            }
        );
        assert!(
            one(&completion_ok("4", None))
                == HubMessage::Completion {
                    invocation_id: "4".into()
                }
        );
        assert_eq!(
            one(&hex("02 91 2A")),
            HubMessage::Unknown { message_type: 42 }
        );
    }

    #[test]
    fn several_messages_in_one_frame() {
        let mut frame = ping();
        frame.extend_from_slice(&ack(1));
        let messages = split_messages(&frame).unwrap();
        assert_eq!(messages.len(), 2);
        assert_eq!(
            parse_message(messages[1]).unwrap(),
            HubMessage::Ack { sequence_id: 1 }
        );
    }

    #[test]
    fn long_messages_get_multi_byte_prefixes() {
        let body = vec![0xC0; 300];
        let mut frame = Vec::new();
        write_message(&mut frame, &body);
        assert_eq!(&frame[..2], &[0xAC, 0x02]);
        assert_eq!(split_messages(&frame).unwrap(), vec![&body[..]]);
    }

    #[test]
    fn refuses_broken_framing() {
        for bad in [
            &b""[..],
            &[0x80],                         // prefix cut off
            &[0x80, 0x80, 0x80, 0x80, 0x80], // prefix longer than five bytes
            &[0xFF, 0xFF, 0xFF, 0xFF, 0x0F], // above 2 GiB
            &[0x05, 0x91],                   // body shorter than announced
            &[0x00],                         // empty message
        ] {
            assert!(split_messages(bad).is_err(), "{bad:02X?}");
        }
    }

    #[test]
    fn refuses_invalid_messages() {
        for bad in [
            hex("C0"),                   // not an array
            hex("90"),                   // no type
            hex("91 A1 31"),             // type not a number
            hex("92 01 80"),             // invocation without id, target, arguments
            hex("95 01 80 C0 A0 90"),    // empty target
            hex("95 01 01 C0 A1 41 90"), // headers not a map
            hex("95 01 80 C0 A1 41 80"), // arguments not an array
            hex("95 01 80 A0 A1 41 90"), // empty invocation id
            hex("91 08"),                // ack without id
            hex("92 09 A1 33"),          // sequence id not a number
            hex("94 03 80 A1 31 07"),    // unknown result kind
            hex("91 06 06"),             // trailing bytes
            hex("92 07 01"),             // close error not a string
            hex("92 08 C4 01 00"),       // binary where a number belongs
        ] {
            assert!(parse_message(&bad).is_err(), "{bad:02X?}");
        }
    }

    #[test]
    fn refuses_deep_nesting() {
        let mut body = vec![0x95, 0x01, 0x80, 0xC0, 0xA1, b'A'];
        body.extend(std::iter::repeat_n(0x91, 10_000));
        body.push(0x90);
        assert!(parse_message(&body).is_err());
    }
}
