//! Metric names. Recorded with the `metrics` macros; served by `/metrics` (Prometheus text) from
//! the recorder `orderflow_runtime::metrics::install` sets up.

/// Gauge: logical connections currently open (attached or waiting for a re-attach).
pub const CONNECTIONS: &str = "gateway_connections";
/// Gauge: groups with at least one member on this gateway.
pub const GROUPS: &str = "gateway_groups";
/// Counter: hub messages written to sockets (live and replayed).
pub const MESSAGES_DELIVERED: &str = "gateway_messages_delivered_total";
/// Counter: messages not queued because a connection's queue was full.
pub const MESSAGES_DROPPED: &str = "gateway_messages_dropped_total";
/// Counter: connections closed because they could not keep up.
pub const SLOW_CONSUMER_CLOSES: &str = "gateway_slow_consumer_closes_total";
/// Counter, label `outcome` (`ok`, `reload`, `error`): resumes, at connect or by `Resume`.
pub const RESUMES: &str = "gateway_resumes_total";
/// Counter: events sent by resumes.
pub const RESUME_REPLAYED_EVENTS: &str = "gateway_resume_replayed_events_total";
/// Counter: resumed events that had to be read from the stream (older than the window).
pub const RESUME_STREAM_READS: &str = "gateway_resume_stream_events_total";
/// Histogram (seconds): from the gateway receiving an event to writing it to a socket.
pub const DELIVERY_LATENCY: &str = "gateway_delivery_latency_seconds";
/// Counter: connections closed for protocol violations (malformed or oversize frames).
pub const PROTOCOL_ERRORS: &str = "gateway_protocol_errors_total";
/// Gauge, label `stream`: the last stream sequence the live feed delivered.
pub const FEED_POSITION: &str = "gateway_feed_position";
/// Counter: gaps in live delivery filled from the stream.
pub const FEED_GAP_FILLS: &str = "gateway_feed_gap_fills_total";
/// Counter: events delivered by gap fills.
pub const FEED_FILLED_EVENTS: &str = "gateway_feed_filled_events_total";
/// Counter: live messages dropped because they were already delivered.
pub const FEED_DUPLICATES: &str = "gateway_feed_duplicates_total";
/// Counter: events the stream lost before they could be delivered (outage beyond retention).
pub const FEED_LOST_EVENTS: &str = "gateway_feed_lost_events_total";

/// Gauge: customers connected to any gateway, as this gateway's presence union has them.
pub const PRESENCE_CUSTOMERS: &str = "gateway_presence_customers";
/// Gauge: other gateways this gateway hears presence from.
pub const PRESENCE_PEERS: &str = "gateway_presence_peers";
/// Counter: presence messages this gateway published on NATS (deltas, heartbeats, snapshots).
pub const PRESENCE_PUBLISHED: &str = "gateway_presence_messages_published_total";
/// Counter: snapshots this gateway asked peers for (its copy was out of date: lost messages).
pub const PRESENCE_SNAPSHOT_REQUESTS: &str = "gateway_presence_snapshot_requests_total";

/// Counter: negotiates refused (429) because their client address exceeded
/// `GATEWAY_NEGOTIATE_RATE_PER_SOURCE`.
pub const NEGOTIATES_REFUSED: &str = "gateway_negotiates_refused_total";

/// Handles of the metrics recorded for every delivery, looked up once: the `metrics` macros
/// look a name up in the recorder's registry on every call, which showed in the profile.
pub struct Meters {
    /// [`MESSAGES_DELIVERED`].
    pub delivered: metrics::Counter,
    /// [`DELIVERY_LATENCY`].
    pub latency: metrics::Histogram,
}

impl Meters {
    /// Handles from the installed recorder.
    pub fn new() -> Self {
        Meters {
            delivered: metrics::counter!(MESSAGES_DELIVERED),
            latency: metrics::histogram!(DELIVERY_LATENCY),
        }
    }
}

impl Default for Meters {
    fn default() -> Self {
        Self::new()
    }
}
