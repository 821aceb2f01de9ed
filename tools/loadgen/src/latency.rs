//! The delivery benchmark's client after its handshake (see [`crate::signalr::open`]): reads for
//! ever, timing every `OrderStatusChanged` from its `updatedAt` (set just before publishing) to
//! its arrival.
//!
//! The client sends nothing after the handshake: the gateway only enforces its client timeout
//! after a client's first ping, and WebSocket-level pings are answered by tungstenite itself.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Instant;

use futures::StreamExt;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use tokio_tungstenite::tungstenite::Message;

use crate::signalr::{RS, Ws};

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

impl Default for Stats {
    fn default() -> Self {
        Self::new()
    }
}

impl Stats {
    /// Empty figures, not recording.
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

/// Reads until the socket closes, recording `OrderStatusChanged` latencies.
pub async fn read_forever(mut ws: Ws, stats: &Stats) {
    while let Some(Ok(message)) = ws.next().await {
        if let Message::Text(text) = message {
            for record in text.as_str().split(RS) {
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
