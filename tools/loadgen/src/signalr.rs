//! The gateway's client side of the SignalR hub protocols (JSON and MessagePack), as much as the
//! benchmarks need: negotiate over HTTP, the WebSocket with `?id=<connectionToken>` (plus
//! optional hub-URL parameters such as `resume=ORDERS:1042`, which the official client keeps on
//! both requests), the handshake, and a cheap reading of the messages the gateway sends.

use std::net::{IpAddr, SocketAddr};

use futures::{SinkExt, StreamExt};
use tokio::net::TcpStream;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

use crate::error::Error;
use crate::net;

/// A client's WebSocket.
pub type Ws = WebSocketStream<TcpStream>;

/// The SignalR record separator.
pub const RS: char = '\u{1e}';

/// The hub protocol a client speaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HubProtocol {
    /// Text messages of JSON records.
    Json,
    /// Binary messages of VarInt-prefixed MessagePack arrays.
    MessagePack,
}

impl HubProtocol {
    fn name(self) -> &'static str {
        match self {
            HubProtocol::Json => "json",
            HubProtocol::MessagePack => "messagepack",
        }
    }
}

/// Negotiates, connects from `source`, and handshakes in `protocol`; `http` must be bound to
/// `source` too. `query` (e.g. `resume=ORDERS:1042`, without `?`) is added to both hub URLs.
pub async fn open(
    index: usize,
    source: IpAddr,
    gateway: SocketAddr,
    http: &reqwest::Client,
    jwt: &str,
    query: Option<&str>,
    protocol: HubProtocol,
) -> Result<Ws, Error> {
    let fail = |reason: String| Error::Client { index, reason };
    let extra = query.map(|q| format!("&{q}")).unwrap_or_default();
    let response = http
        .post(format!(
            "http://{gateway}/hubs/orders/negotiate?negotiateVersion=1{extra}"
        ))
        .bearer_auth(jwt)
        .send()
        .await
        .map_err(|e| fail(format!("negotiate: {e}")))?;
    if !response.status().is_success() {
        return Err(fail(format!("negotiate: HTTP {}", response.status())));
    }
    let body: serde_json::Value = response
        .json()
        .await
        .map_err(|e| fail(format!("negotiate body: {e}")))?;
    let id = body["connectionToken"]
        .as_str()
        .ok_or_else(|| fail("negotiate: no connectionToken".into()))?;

    let stream = net::connect_from(source, gateway)
        .await
        .map_err(|e| fail(format!("connect from {source}: {e}")))?;
    let mut request = format!("ws://{gateway}/hubs/orders?id={id}{extra}")
        .into_client_request()
        .map_err(|e| fail(e.to_string()))?;
    let bearer = format!("Bearer {jwt}")
        .parse()
        .map_err(|_| fail("token is not a header value".into()))?;
    request.headers_mut().insert("Authorization", bearer);
    let (mut ws, _) =
        tokio_tungstenite::client_async_with_config(request, stream, Some(small_buffers()))
            .await
            .map_err(|e| fail(format!("upgrade: {e}")))?;
    ws.send(Message::text(format!(
        "{{\"protocol\":\"{}\",\"version\":1}}{RS}",
        protocol.name()
    )))
    .await
    .map_err(|e| fail(format!("handshake send: {e}")))?;
    loop {
        match ws.next().await {
            Some(Ok(Message::Text(t))) if t.as_str() == "{}\u{1e}" => return Ok(ws),
            Some(Ok(Message::Binary(b))) if b.as_ref() == b"{}\x1e" => return Ok(ws),
            Some(Ok(Message::Text(t))) => {
                return Err(fail(format!("handshake answer: {}", t.as_str())));
            }
            Some(Ok(_)) => {}
            Some(Err(e)) => return Err(fail(format!("handshake read: {e}"))),
            None => return Err(fail("closed during handshake".into())),
        }
    }
}

/// Small buffers: with thousands of clients, the client side should not dominate the machine's
/// memory either.
pub fn small_buffers() -> WebSocketConfig {
    WebSocketConfig::default().read_buffer_size(4096)
}

/// What one hub record means to a benchmark client.
#[derive(Debug, PartialEq, Eq)]
pub enum Record {
    /// An invocation carrying a position in stream `ORDERS`.
    OrderEvent { sequence: u64 },
    /// The `Resumed` invocation that ends a resume at connect.
    Resumed(ResumeStatus),
    /// A Close message (type 7): the gateway ends the connection.
    Close,
    /// Anything else (pings, other streams, completions).
    Other,
}

/// The `status` of a `Resumed` invocation.
#[derive(Debug, PartialEq, Eq)]
pub enum ResumeStatus {
    /// Every missed event was sent.
    Ok,
    /// A position was too old: the client must reload state from the REST API.
    Reload,
    /// Anything else (kept for the report).
    Unexpected(String),
}

/// Classifies one record (without its separator). Events, the bulk of the traffic, are
/// recognised by a substring search; only rare records are parsed as JSON, so the client
/// spends little of the CPU it shares with the servers under test.
pub fn classify(record: &str) -> Record {
    const KEY: &str = "\"position\":\"ORDERS:";
    if let Some(at) = record.find(KEY) {
        let digits = &record[at + KEY.len()..];
        let end = digits
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(digits.len());
        if let Ok(sequence) = digits[..end].parse() {
            return Record::OrderEvent { sequence };
        }
    }
    if record.is_empty() || (!record.contains("\"Resumed\"") && !record.contains("\"type\":7")) {
        return Record::Other;
    }
    let Ok(json) = serde_json::from_str::<serde_json::Value>(record) else {
        return Record::Other;
    };
    match (json["type"].as_u64(), json["target"].as_str()) {
        (Some(7), _) => Record::Close,
        (Some(1), Some("Resumed")) => {
            Record::Resumed(match json["arguments"][0]["status"].as_str() {
                Some("ok") => ResumeStatus::Ok,
                Some("reload") => ResumeStatus::Reload,
                _ => ResumeStatus::Unexpected(json["arguments"].to_string()),
            })
        }
        _ => Record::Other,
    }
}

/// Every hub message of one WebSocket message, classified: JSON records of a text message,
/// MessagePack messages of a binary one. Returns the bytes the message carried.
pub fn classify_message(message: &Message, mut each: impl FnMut(Record)) -> usize {
    match message {
        Message::Text(text) => {
            for record in text.as_str().split(RS) {
                each(classify(record));
            }
            text.len()
        }
        Message::Binary(data) => {
            for body in binary_messages(data) {
                each(classify_binary(body));
            }
            data.len()
        }
        _ => 0,
    }
}

/// The bodies of a binary message's VarInt-prefixed hub messages (stops at a broken prefix:
/// the gateway never sends one).
pub fn binary_messages(mut data: &[u8]) -> impl Iterator<Item = &[u8]> {
    std::iter::from_fn(move || {
        let mut length = 0usize;
        for i in 0..5 {
            let byte = *data.get(i)?;
            length |= usize::from(byte & 0x7F) << (7 * i);
            if byte & 0x80 == 0 {
                let body = data.get(i + 1..i + 1 + length)?;
                data = &data[i + 1 + length..];
                return Some(body);
            }
        }
        None
    })
}

/// Classifies one MessagePack hub message, as [`classify`] does a JSON record: events by a byte
/// search for their position, the rare rest decoded.
pub fn classify_binary(body: &[u8]) -> Record {
    const KEY: &[u8] = b"position";
    const STREAM: &[u8] = b"ORDERS:";
    if let Some(at) = find(body, KEY) {
        // The key, then the value's one-byte string header, then `ORDERS:<digits>`.
        let value = &body[(at + KEY.len() + 1).min(body.len())..];
        if let Some(digits) = value.strip_prefix(STREAM) {
            let end = digits
                .iter()
                .position(|b| !b.is_ascii_digit())
                .unwrap_or(digits.len());
            if let Some(sequence) = std::str::from_utf8(&digits[..end])
                .ok()
                .and_then(|d| d.parse().ok())
            {
                return Record::OrderEvent { sequence };
            }
        }
    }
    // `[7, …]` is a Close; a `Resumed` invocation names its target.
    if body.get(1) == Some(&7) && body.first().is_some_and(|b| b & 0xF0 == 0x90) {
        return Record::Close;
    }
    if find(body, b"Resumed").is_none() {
        return Record::Other;
    }
    let Ok(fields) = rmp_serde::from_slice::<Vec<serde_json::Value>>(body) else {
        return Record::Other;
    };
    match (fields.first().and_then(|t| t.as_u64()), fields.get(3)) {
        (Some(1), Some(target)) if target == "Resumed" => {
            let argument = &fields[4][0];
            Record::Resumed(match argument["status"].as_str() {
                Some("ok") => ResumeStatus::Ok,
                Some("reload") => ResumeStatus::Reload,
                _ => ResumeStatus::Unexpected(argument.to_string()),
            })
        }
        _ => Record::Other,
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn framed(value: serde_json::Value) -> Vec<u8> {
        let body = rmp_serde::to_vec_named(&value).unwrap();
        let mut out = vec![u8::try_from(body.len()).unwrap()];
        out.extend(body);
        out
    }

    #[test]
    fn classifies_messagepack_events_resumed_and_close() {
        let mut frame = framed(serde_json::json!([1, {}, null, "OrderStatusChanged",
            [{"orderId": "x", "position": "ORDERS:1042"}]]));
        frame.extend(framed(serde_json::json!([1, {}, null, "Resumed",
            [{"status": "ok", "replayed": 3}]])));
        frame.extend(framed(serde_json::json!([7, "bye", true])));
        frame.extend(framed(serde_json::json!([6])));
        let mut got = Vec::new();
        let bytes = classify_message(&Message::binary(frame.clone()), |r| got.push(r));
        assert_eq!(bytes, frame.len());
        assert_eq!(
            got,
            [
                Record::OrderEvent { sequence: 1042 },
                Record::Resumed(ResumeStatus::Ok),
                Record::Close,
                Record::Other
            ]
        );
    }

    #[test]
    fn classifies_events_resumed_and_close() {
        let event = r#"{"type":1,"target":"OrderStatusChanged","arguments":[{"orderId":"x","position":"ORDERS:1042"}]}"#;
        assert_eq!(classify(event), Record::OrderEvent { sequence: 1042 });
        let ok = r#"{"type":1,"target":"Resumed","arguments":[{"status":"ok","replayed":3}]}"#;
        assert_eq!(classify(ok), Record::Resumed(ResumeStatus::Ok));
        let reload = r#"{"type":1,"target":"Resumed","arguments":[{"status":"reload","streams":["ORDERS"],"replayed":0}]}"#;
        assert_eq!(classify(reload), Record::Resumed(ResumeStatus::Reload));
        let odd = r#"{"type":1,"target":"Resumed","arguments":[{"status":"maybe"}]}"#;
        assert!(matches!(
            classify(odd),
            Record::Resumed(ResumeStatus::Unexpected(_))
        ));
        assert_eq!(
            classify(r#"{"type":7,"error":"x","allowReconnect":true}"#),
            Record::Close
        );
        assert_eq!(classify(r#"{"type":6}"#), Record::Other);
        let stock =
            r#"{"type":1,"target":"LowStockAlert","arguments":[{"position":"INVENTORY:7"}]}"#;
        assert_eq!(classify(stock), Record::Other);
        assert_eq!(classify(""), Record::Other);
    }
}
