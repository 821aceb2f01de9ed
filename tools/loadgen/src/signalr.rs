//! The gateway's client side of the SignalR JSON hub protocol, as much as the benchmarks need:
//! negotiate over HTTP, the WebSocket with `?id=<connectionToken>` (plus optional hub-URL
//! parameters such as `resume=ORDERS:1042`, which the official client keeps on both requests),
//! the handshake, and a cheap reading of the records the gateway sends.

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

/// Negotiates, connects from `source`, and handshakes; `http` must be bound to `source` too.
/// `query` (e.g. `resume=ORDERS:1042`, without `?`) is added to both hub URLs.
pub async fn open(
    index: usize,
    source: IpAddr,
    gateway: SocketAddr,
    http: &reqwest::Client,
    jwt: &str,
    query: Option<&str>,
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
        "{{\"protocol\":\"json\",\"version\":1}}{RS}"
    )))
    .await
    .map_err(|e| fail(format!("handshake send: {e}")))?;
    loop {
        match ws.next().await {
            Some(Ok(Message::Text(t))) if t.as_str() == "{}\u{1e}" => return Ok(ws),
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

#[cfg(test)]
mod tests {
    use super::*;

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
