//! Metric names. Recorded with the `metrics` macros; served by `/metrics` (Prometheus text) from
//! the recorder `orderflow_runtime::metrics::install` sets up.

/// Gauge: logical connections currently open (attached or waiting for a re-attach).
pub const CONNECTIONS: &str = "gateway_connections";
/// Gauge: groups with at least one member on this gateway.
pub const GROUPS: &str = "gateway_groups";
/// Gauge: NATS core subscriptions held for groups.
pub const NATS_SUBSCRIPTIONS: &str = "gateway_nats_subscriptions";
/// Counter: hub messages written to sockets (live and replayed).
pub const MESSAGES_DELIVERED: &str = "gateway_messages_delivered_total";
/// Counter: messages not queued because a connection's queue was full.
pub const MESSAGES_DROPPED: &str = "gateway_messages_dropped_total";
/// Counter: connections closed because they could not keep up.
pub const SLOW_CONSUMER_CLOSES: &str = "gateway_slow_consumer_closes_total";
/// Counter: `Resume` calls that replayed from a stream.
pub const RESUME_REPLAYS: &str = "gateway_resume_replays_total";
/// Counter: events replayed by `Resume`.
pub const RESUME_REPLAYED_EVENTS: &str = "gateway_resume_replayed_events_total";
/// Histogram (seconds): from the gateway receiving an event to writing it to a socket.
pub const DELIVERY_LATENCY: &str = "gateway_delivery_latency_seconds";
/// Counter: connections closed for protocol violations (malformed or oversize frames).
pub const PROTOCOL_ERRORS: &str = "gateway_protocol_errors_total";
