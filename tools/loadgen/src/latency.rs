//! What the delivery benchmark's clients record, whatever system they read from: deliveries per
//! client, the time of the latest one, and each delivery's latency from the event's
//! `updatedAt`, which the publisher stamps just before publishing (where the outbox relay would
//! publish right after the commit).
//!
//! The same timestamp is read from every system: from the JSON (or MessagePack) the gateway
//! sends, and from the protobuf event that nats-server and the floor deliver unchanged. A
//! header stamped by the publisher would not reach the gateway's clients, and a time stamped by
//! a server would leave out the part of the path that differs.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// What all clients of a turn record, shared; clients are numbered `0..clients`.
pub struct Stats {
    base: Instant,
    /// Latencies are only kept while this is set (the paced phase).
    pub recording: AtomicBool,
    /// Deliveries to every client.
    pub delivered: AtomicU64,
    /// Deliveries whose `updatedAt` could not be read (counted, not timed).
    pub undated: AtomicU64,
    /// Connections that ended before the benchmark ended them.
    pub closed: AtomicU64,
    /// WebSocket payload bytes received by every client (what a delivery costs on the wire).
    pub bytes: AtomicU64,
    /// Microseconds from `base` to the latest delivery.
    last_delivery_us: AtomicU64,
    per_client: Vec<AtomicU32>,
    latencies_us: Mutex<Vec<u32>>,
}

impl Stats {
    /// Empty figures for `clients` clients, not recording.
    pub fn new(clients: usize) -> Stats {
        Stats {
            base: Instant::now(),
            recording: AtomicBool::new(false),
            delivered: AtomicU64::new(0),
            undated: AtomicU64::new(0),
            closed: AtomicU64::new(0),
            bytes: AtomicU64::new(0),
            last_delivery_us: AtomicU64::new(0),
            per_client: (0..clients).map(|_| AtomicU32::new(0)).collect(),
            latencies_us: Mutex::new(Vec::new()),
        }
    }

    /// Counts a delivery to `client`, timing it from `published` while recording.
    pub fn deliver(&self, client: usize, published: Option<OffsetDateTime>) {
        self.delivered.fetch_add(1, Ordering::Relaxed);
        if let Some(count) = self.per_client.get(client) {
            count.fetch_add(1, Ordering::Relaxed);
        }
        let since = self.base.elapsed().as_micros() as u64;
        self.last_delivery_us.fetch_max(since, Ordering::Relaxed);
        let Some(published) = published else {
            self.undated.fetch_add(1, Ordering::Relaxed);
            return;
        };
        if self.recording.load(Ordering::Relaxed) {
            let us = (OffsetDateTime::now_utc() - published).whole_microseconds();
            let us = u32::try_from(us.max(0)).unwrap_or(u32::MAX);
            self.latencies_us.lock().unwrap().push(us);
        }
    }

    /// Deliveries so far to each client.
    pub fn per_client(&self) -> Vec<u32> {
        self.per_client
            .iter()
            .map(|c| c.load(Ordering::Relaxed))
            .collect()
    }

    /// The instant of the latest delivery.
    pub fn last_delivery(&self) -> Instant {
        self.base + Duration::from_micros(self.last_delivery_us.load(Ordering::Relaxed))
    }

    /// Takes the recorded latencies, sorted, in microseconds.
    pub fn take_sorted_latencies(&self) -> Vec<u32> {
        let mut v = std::mem::take(&mut *self.latencies_us.lock().unwrap());
        v.sort_unstable();
        v
    }
}

/// Nearest-rank percentile of sorted microseconds, in milliseconds (NaN when empty).
pub fn percentile_ms(sorted_us: &[u32], p: f64) -> f64 {
    if sorted_us.is_empty() {
        return f64::NAN;
    }
    let rank = ((sorted_us.len() as f64 * p).ceil() as usize).clamp(1, sorted_us.len());
    f64::from(sorted_us[rank - 1]) / 1000.0
}

/// Whether a gateway hub record (without its separator) is an `OrderStatusChanged`
/// invocation, i.e. a delivery.
pub fn is_status_change(record: &str) -> bool {
    record.contains("\"target\":\"OrderStatusChanged\"")
}

/// Whether a MessagePack hub message is an `OrderStatusChanged` invocation.
pub fn is_binary_status_change(body: &[u8]) -> bool {
    // `[1, {}, nil, "OrderStatusChanged", …`: a fixarray, then type 1, an empty map, nil and
    // the 18-byte fixstr.
    body.get(1..5) == Some(&[0x01, 0x80, 0xC0, 0xB2])
        && body[5..].starts_with(b"OrderStatusChanged")
}

/// `updatedAt` of a MessagePack `OrderStatusChanged`: the timestamp extension after the key.
pub fn msgpack_updated_at(body: &[u8]) -> Option<OffsetDateTime> {
    const KEY: &[u8] = b"\xA9updatedAt";
    let at = body.windows(KEY.len()).position(|w| w == KEY)? + KEY.len();
    let ext = &body[at..];
    let (seconds, nanos) = match ext {
        [0xD6, 0xFF, d @ ..] => (
            i64::from(u32::from_be_bytes(d.get(..4)?.try_into().ok()?)),
            0,
        ),
        [0xD7, 0xFF, d @ ..] => {
            let packed = u64::from_be_bytes(d.get(..8)?.try_into().ok()?);
            ((packed & ((1 << 34) - 1)) as i64, (packed >> 34) as u32)
        }
        [0xC7, 12, 0xFF, d @ ..] => (
            i64::from_be_bytes(d.get(4..12)?.try_into().ok()?),
            u32::from_be_bytes(d.get(..4)?.try_into().ok()?),
        ),
        _ => return None,
    };
    let time = OffsetDateTime::from_unix_timestamp(seconds).ok()?;
    time.replace_nanosecond(nanos).ok()
}

/// `updatedAt` of a gateway `OrderStatusChanged` record, found without a full JSON parse so
/// that the client spends as little of the shared CPU as possible.
pub fn json_updated_at(record: &str) -> Option<OffsetDateTime> {
    const KEY: &str = "\"updatedAt\":\"";
    let start = record.find(KEY)? + KEY.len();
    let end = start + record[start..].find('"')?;
    OffsetDateTime::parse(&record[start..end], &Rfc3339).ok()
}

/// `updated_at` of an `OrderStatusChanged` protobuf payload (nats-server and the floor).
pub fn proto_updated_at(payload: &[u8]) -> Option<OffsetDateTime> {
    let only: UpdatedAtOnly = prost::Message::decode(payload).ok()?;
    let at = only.updated_at?;
    let nanos = i128::from(at.seconds) * 1_000_000_000 + i128::from(at.nanos);
    OffsetDateTime::from_unix_timestamp_nanos(nanos).ok()
}

/// `OrderStatusChanged` reduced to `updated_at` (tag 7): decoding skips the other fields
/// without allocating their strings, so that reading the time costs a nats-server or floor
/// client no more than the gateway's client pays for finding it in the JSON.
#[derive(Clone, PartialEq, prost::Message)]
struct UpdatedAtOnly {
    #[prost(message, optional, tag = "7")]
    updated_at: Option<ProtoTimestamp>,
}

/// `google.protobuf.Timestamp`.
#[derive(Clone, PartialEq, prost::Message)]
struct ProtoTimestamp {
    #[prost(int64, tag = "1")]
    seconds: i64,
    #[prost(int32, tag = "2")]
    nanos: i32,
}

#[cfg(test)]
mod tests {
    use super::*;

    use orderflow_events::orders::v1::OrderStatusChanged;
    use orderflow_events::timestamp;

    #[test]
    fn reads_updated_at_from_json_and_protobuf() {
        let record = r#"{"type":1,"target":"OrderStatusChanged","arguments":[{"orderId":"x","updatedAt":"2026-11-25T15:00:00.123456789Z","position":"ORDERS:1"}]}"#;
        assert!(is_status_change(record));
        assert_eq!(json_updated_at(record).unwrap().nanosecond(), 123_456_789);
        assert!(!is_status_change(r#"{"type":6}"#));
        assert!(json_updated_at(r#"{"type":6}"#).is_none());

        let at = OffsetDateTime::now_utc();
        let event = OrderStatusChanged {
            order_id: "o".into(),
            customer_id: "c".into(),
            new_status: 4,
            updated_at: Some(timestamp::to_timestamp(at)),
            reason: "r".into(),
            ..Default::default()
        };
        let payload = prost::Message::encode_to_vec(&event);
        assert_eq!(proto_updated_at(&payload), Some(at));
        assert_eq!(proto_updated_at(b"\xff\xff"), None);
    }

    #[test]
    fn counts_per_client_and_times_only_while_recording() {
        let stats = Stats::new(2);
        let past = OffsetDateTime::now_utc() - Duration::from_millis(3);
        stats.deliver(0, Some(past));
        stats.recording.store(true, Ordering::Relaxed);
        stats.deliver(1, Some(past));
        stats.deliver(1, None);
        assert_eq!(stats.per_client(), vec![1, 2]);
        assert_eq!(stats.delivered.load(Ordering::Relaxed), 3);
        assert_eq!(stats.undated.load(Ordering::Relaxed), 1);
        let latencies = stats.take_sorted_latencies();
        assert_eq!(latencies.len(), 1);
        assert!(percentile_ms(&latencies, 0.99) >= 3.0);
        assert!(percentile_ms(&[], 0.5).is_nan());
    }
}
