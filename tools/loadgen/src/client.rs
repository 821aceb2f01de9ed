//! One benchmark client: negotiate over HTTP, open the WebSocket from a chosen 127.0.0.x source
//! address, complete the SignalR JSON handshake, then read for ever, timing every
//! `OrderStatusChanged` from its `updatedAt` (set just before publishing) to its arrival.
//!
//! The client sends nothing after the handshake: the gateway only enforces its client timeout
//! after a client's first ping, and WebSocket-level pings are answered by tungstenite itself.

use std::net::{IpAddr, SocketAddr};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Instant;

use futures::{SinkExt, StreamExt};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use tokio::net::{TcpSocket, TcpStream};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

use crate::error::Error;

pub type Ws = WebSocketStream<TcpStream>;

/// What all clients record, shared.
pub struct Stats {
    base: Instant,
    /// Latencies are only kept while this is set (the drive phase).
    pub recording: AtomicBool,
    pub delivered: AtomicU64,
    /// Microseconds from `base` to the latest delivery.
    last_delivery_us: AtomicU64,
    pub closed: AtomicU64,
    latencies_us: Mutex<Vec<u64>>,
}

impl Stats {
    pub fn new() -> Stats {
        Stats {
            base: Instant::now(),
            recording: AtomicBool::new(false),
            delivered: AtomicU64::new(0),
            last_delivery_us: AtomicU64::new(0),
            closed: AtomicU64::new(0),
            latencies_us: Mutex::new(Vec::new()),
        }
    }

    /// The instant of the latest recorded delivery.
    pub fn last_delivery(&self) -> Instant {
        self.base + std::time::Duration::from_micros(self.last_delivery_us.load(Ordering::Relaxed))
    }

    /// All recorded latencies in microseconds, sorted.
    pub fn sorted_latencies(&self) -> Vec<u64> {
        let mut v = self.latencies_us.lock().unwrap().clone();
        v.sort_unstable();
        v
    }

    fn record(&self, published: OffsetDateTime) {
        if !self.recording.load(Ordering::Relaxed) {
            return;
        }
        let latency = OffsetDateTime::now_utc() - published;
        let us = u64::try_from(latency.whole_microseconds()).unwrap_or(0);
        self.delivered.fetch_add(1, Ordering::Relaxed);
        let since = self.base.elapsed().as_micros() as u64;
        self.last_delivery_us.fetch_max(since, Ordering::Relaxed);
        self.latencies_us.lock().unwrap().push(us);
    }
}

/// Negotiates, connects from `source`, and handshakes; `http` must be bound to `source` too.
pub async fn open(
    index: usize,
    source: IpAddr,
    gateway: SocketAddr,
    http: &reqwest::Client,
    jwt: &str,
) -> Result<Ws, Error> {
    let fail = |reason: String| Error::Client { index, reason };
    let response = http
        .post(format!(
            "http://{gateway}/hubs/orders/negotiate?negotiateVersion=1"
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

    let socket = TcpSocket::new_v4()?;
    socket.bind(SocketAddr::new(source, 0))?;
    let stream = socket
        .connect(gateway)
        .await
        .map_err(|e| fail(format!("connect from {source}: {e}")))?;
    let mut request = format!("ws://{gateway}/hubs/orders?id={id}")
        .into_client_request()
        .map_err(|e| fail(e.to_string()))?;
    let bearer = format!("Bearer {jwt}")
        .parse()
        .map_err(|_| fail("token is not a header value".into()))?;
    request.headers_mut().insert("Authorization", bearer);
    // Small buffers: the client side should not dominate the machine's memory either.
    let config = WebSocketConfig::default().read_buffer_size(4096);
    let (mut ws, _) = tokio_tungstenite::client_async_with_config(request, stream, Some(config))
        .await
        .map_err(|e| fail(format!("upgrade: {e}")))?;
    ws.send(Message::text("{\"protocol\":\"json\",\"version\":1}\u{1e}"))
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

/// Reads until the socket closes, recording `OrderStatusChanged` latencies.
pub async fn read_forever(mut ws: Ws, stats: &Stats) {
    while let Some(Ok(message)) = ws.next().await {
        if let Message::Text(text) = message {
            for record in text.as_str().split('\u{1e}') {
                if let Some(published) = updated_at(record) {
                    stats.record(published);
                }
            }
        }
    }
    stats.closed.fetch_add(1, Ordering::Relaxed);
}

/// `updatedAt` of an `OrderStatusChanged` invocation, found without a full JSON parse so that
/// the client spends as little of the shared CPU as possible.
fn updated_at(record: &str) -> Option<OffsetDateTime> {
    if !record.contains("\"target\":\"OrderStatusChanged\"") {
        return None;
    }
    const KEY: &str = "\"updatedAt\":\"";
    let start = record.find(KEY)? + KEY.len();
    let end = start + record[start..].find('"')?;
    OffsetDateTime::parse(&record[start..end], &Rfc3339).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_updated_at_only_in_order_status_changes() {
        let record = r#"{"type":1,"target":"OrderStatusChanged","arguments":[{"orderId":"x","updatedAt":"2026-11-25T15:00:00.123456789Z","position":"ORDERS:1"}]}"#;
        let t = updated_at(record).unwrap();
        assert_eq!(t.nanosecond(), 123_456_789);
        let other = record.replace("OrderStatusChanged", "NewOrderCreated");
        assert!(updated_at(&other).is_none());
        assert!(updated_at(r#"{"type":6}"#).is_none());
    }
}
