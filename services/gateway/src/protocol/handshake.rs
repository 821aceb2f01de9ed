//! The handshake that opens every new socket: `{"protocol":"json"|"messagepack","version":1|2}␞`
//! from the client (JSON text whichever protocol it names), `{}␞` (alone in its frame) or
//! `{"error":"…"}␞` from the server. Version 2 means the client negotiated stateful reconnect.

use serde::Deserialize;

use super::Protocol;
use crate::error::GatewayError;

/// A validated handshake request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HandshakeRequest {
    /// The hub protocol of every later message.
    pub protocol: Protocol,
    /// 1 or 2; 2 switches stateful reconnect on if this connection negotiated it.
    pub version: u32,
}

#[derive(Deserialize)]
struct RawHandshake {
    protocol: Option<String>,
    version: Option<serde_json::Value>,
}

/// Parses the first frame of a socket. The frame must hold exactly the handshake record:
/// the client sends nothing else before it has seen the server's answer.
pub fn parse_handshake(frame: &str) -> Result<HandshakeRequest, GatewayError> {
    let records = super::split_records(frame)?;
    let [record] = records.as_slice() else {
        return Err(GatewayError::Handshake(
            "expected exactly one handshake record".into(),
        ));
    };
    let raw: RawHandshake = serde_json::from_str(record)
        .map_err(|_| GatewayError::Handshake("handshake is not a JSON object".into()))?;
    let protocol = match raw.protocol.as_deref() {
        Some("json") => Protocol::Json,
        Some("messagepack") => Protocol::MessagePack,
        Some(other) => {
            return Err(GatewayError::Handshake(format!(
                "The protocol '{}' is not supported.",
                other.chars().take(32).collect::<String>()
            )));
        }
        None => return Err(GatewayError::Handshake("handshake has no protocol".into())),
    };
    let version = raw
        .version
        .as_ref()
        .and_then(serde_json::Value::as_u64)
        .ok_or_else(|| GatewayError::Handshake("handshake has no numeric version".into()))?;
    match version {
        1 | 2 => Ok(HandshakeRequest {
            protocol,
            version: version as u32,
        }),
        v => Err(GatewayError::Handshake(format!(
            "The server does not support version {v} of the '{}' protocol.",
            protocol.name()
        ))),
    }
}

/// The success answer, `{}␞` (bytes `7B 7D 1E`).
pub const HANDSHAKE_OK: &str = "{}\u{1e}";

/// The failure answer; the socket is closed right after it.
pub fn handshake_error(message: &str) -> String {
    super::framing::terminate(serde_json::json!({ "error": message }).to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_versions_one_and_two() {
        assert_eq!(
            parse_handshake("{\"protocol\":\"json\",\"version\":1}\u{1e}")
                .unwrap()
                .version,
            1
        );
        // The 32-byte version-2 request from the spec, byte for byte.
        let bytes: [u8; 32] = [
            0x7B, 0x22, 0x70, 0x72, 0x6F, 0x74, 0x6F, 0x63, 0x6F, 0x6C, 0x22, 0x3A, 0x22, 0x6A,
            0x73, 0x6F, 0x6E, 0x22, 0x2C, 0x22, 0x76, 0x65, 0x72, 0x73, 0x69, 0x6F, 0x6E, 0x22,
            0x3A, 0x32, 0x7D, 0x1E,
        ];
        let frame = std::str::from_utf8(&bytes).unwrap();
        assert_eq!(parse_handshake(frame).unwrap().version, 2);
    }

    #[test]
    fn accepts_messagepack() {
        let request =
            parse_handshake("{\"protocol\":\"messagepack\",\"version\":2}\u{1e}").unwrap();
        assert_eq!(request.protocol, Protocol::MessagePack);
        assert_eq!(request.version, 2);
    }

    #[test]
    fn refuses_other_protocols_and_versions() {
        let err = parse_handshake("{\"protocol\":\"blazorpack\",\"version\":1}\u{1e}");
        assert!(matches!(err, Err(GatewayError::Handshake(m)) if m.contains("blazorpack")));
        assert!(parse_handshake("{\"protocol\":\"messagepack\",\"version\":3}\u{1e}").is_err());
        assert!(parse_handshake("{\"protocol\":\"json\",\"version\":3}\u{1e}").is_err());
        assert!(parse_handshake("{\"protocol\":\"json\"}\u{1e}").is_err());
        assert!(parse_handshake("{\"version\":1}\u{1e}").is_err());
        assert!(parse_handshake("not json\u{1e}").is_err());
        assert!(parse_handshake("{\"protocol\":\"json\",\"version\":1}").is_err());
        assert!(
            parse_handshake("{\"protocol\":\"json\",\"version\":1}\u{1e}{\"type\":6}\u{1e}")
                .is_err()
        );
    }

    #[test]
    fn responses_have_the_documented_bytes() {
        assert_eq!(HANDSHAKE_OK.as_bytes(), &[0x7B, 0x7D, 0x1E]);
        assert_eq!(handshake_error("nope"), "{\"error\":\"nope\"}\u{1e}");
    }
}
