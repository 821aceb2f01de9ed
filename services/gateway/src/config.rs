//! Gateway settings, read once from the environment (`GATEWAY_*`, shared ones `ORDERFLOW_*`).
//! Tests build the struct with [`GatewaySettings::for_tests`] and never touch the environment.

use std::net::SocketAddr;
use std::time::Duration;

use orderflow_auth::{AuthSettings, parse_duration};
use orderflow_runtime::limits::HttpLimits;
use secrecy::SecretString;

/// Everything the gateway needs to run.
#[derive(clap::Parser, Clone, Debug)]
#[command(name = "gateway", about = "OrderFlow SignalR gateway")]
pub struct GatewaySettings {
    /// Address to listen on.
    #[arg(long, env = "GATEWAY_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    /// NATS server URL (the JetStream streams ORDERS and INVENTORY must exist or be created by
    /// the services that own them).
    #[arg(
        long,
        env = "ORDERFLOW_NATS_URL",
        default_value = "nats://127.0.0.1:4222"
    )]
    pub nats_url: String,
    /// Browser origins allowed to negotiate (CORS) and to open the WebSocket, comma separated,
    /// exact match (e.g. `https://app.example.com,http://localhost:5173`).
    #[arg(
        long,
        env = "GATEWAY_ALLOWED_ORIGINS",
        value_delimiter = ',',
        default_value = "http://localhost:5173"
    )]
    pub allowed_origins: Vec<String>,
    /// JWT validation.
    #[command(flatten)]
    pub auth: AuthSettings,
    /// A ping is sent when nothing else was sent for this long (the client times out at 30 s).
    #[arg(long, env = "GATEWAY_KEEP_ALIVE", default_value = "15s", value_parser = parse_duration)]
    pub keep_alive: Duration,
    /// Inbound silence after which a connection is considered dead (once the client pinged).
    #[arg(long, env = "GATEWAY_CLIENT_TIMEOUT", default_value = "30s", value_parser = parse_duration)]
    pub client_timeout: Duration,
    /// Time a negotiated connection has to open its socket and complete the handshake.
    #[arg(long, env = "GATEWAY_HANDSHAKE_TIMEOUT", default_value = "15s", value_parser = parse_duration)]
    pub handshake_timeout: Duration,
    /// How long a stateful connection whose socket dropped is kept for a re-attach.
    #[arg(long, env = "GATEWAY_RECONNECT_GRACE", default_value = "20s", value_parser = parse_duration)]
    pub reconnect_grace: Duration,
    /// Outbound messages queued per connection before it counts as a slow consumer.
    #[arg(long, env = "GATEWAY_OUTBOUND_QUEUE", default_value_t = 512)]
    pub outbound_queue: usize,
    /// A socket write that takes longer than this marks the client as not reading.
    #[arg(long, env = "GATEWAY_SEND_TIMEOUT", default_value = "5s", value_parser = parse_duration)]
    pub send_timeout: Duration,
    /// Largest inbound WebSocket message in bytes.
    #[arg(long, env = "GATEWAY_MAX_MESSAGE_BYTES", default_value_t = 32 * 1024)]
    pub max_message_bytes: usize,
    /// Bytes of unacknowledged messages kept for stateful reconnect before the connection is
    /// closed with a reconnect hint (the client then resumes by position).
    #[arg(long, env = "GATEWAY_STATEFUL_BUFFER_BYTES", default_value_t = 100_000)]
    pub stateful_buffer_bytes: usize,
    /// Hub invocations allowed per connection per second (burst of the same size).
    #[arg(long, env = "GATEWAY_INVOCATIONS_PER_SECOND", default_value_t = 20)]
    pub invocations_per_second: u32,
    /// Simultaneous connections per user.
    #[arg(long, env = "GATEWAY_MAX_CONNECTIONS_PER_USER", default_value_t = 16)]
    pub max_connections_per_user: usize,
    /// On SIGTERM, time given to connections to receive their Close and flush.
    #[arg(long, env = "GATEWAY_DRAIN_GRACE", default_value = "10s", value_parser = parse_duration)]
    pub drain_grace: Duration,
    /// Most events one resume sends to one connection per stream (events of its own groups);
    /// a client that missed more reloads that stream's state instead.
    #[arg(long, env = "GATEWAY_MAX_REPLAY", default_value_t = 10_000)]
    pub max_replay: usize,
    /// Most stream messages one `ReplaySince` (the dashboard's "since 09:00") reads per stream;
    /// an earlier timestamp replays only the latest ones and answers `truncated`.
    #[arg(long, env = "GATEWAY_MAX_REPLAY_SINCE", default_value_t = 5_000)]
    pub max_replay_since: usize,
    /// Recent events kept in memory per stream, from which resumes are served without reading
    /// the stream (older positions are read from the stream).
    #[arg(long, env = "GATEWAY_REPLAY_WINDOW", default_value_t = 65_536)]
    pub replay_window: usize,
    /// How often each live feed compares its stream's end with what it delivered, so that a
    /// lost last message is delivered even when nothing newer reveals the gap.
    #[arg(long, env = "GATEWAY_TAIL_CHECK", default_value = "5s", value_parser = parse_duration)]
    pub tail_check: Duration,
    /// How live messages arrive: `direct`, a NATS connection of each feed's own read without
    /// building a header map per message (the cheaper path; plain TCP, so servers that require
    /// TLS switch it to `client` by themselves), or `client`, a subscription on the general
    /// NATS client.
    #[arg(long, env = "GATEWAY_LIVE_LINK", value_enum, default_value = "direct")]
    pub live_link: crate::live_link::LinkKind,
    /// Key of the connection tokens (at least 32 bytes), the same on every gateway of a
    /// deployment so that a negotiate and its WebSocket may reach different gateways. Unset:
    /// a random key, valid on this gateway only.
    #[arg(long, env = "GATEWAY_CONNECTION_TOKEN_SECRET", value_parser = parse_secret, hide_env_values = true)]
    pub connection_token_secret: Option<SecretString>,
    /// Negotiates one client address may start per second (bursts of five times as many);
    /// past it, 429. The address is the peer, or the forwarded one behind a trusted proxy.
    #[arg(long, env = "GATEWAY_NEGOTIATE_RATE_PER_SOURCE", default_value_t = 20)]
    pub negotiate_rate_per_source: u32,
    /// Presence (who is connected, for the admin dashboard): changes are collected for this
    /// long, then sent as one message to the other gateways and to watching admins, so a
    /// reconnect storm costs a few messages per interval, not one per connection.
    #[arg(long, env = "GATEWAY_PRESENCE_FLUSH", default_value = "500ms", value_parser = parse_interval)]
    pub presence_flush: Duration,
    /// How often each gateway tells the others it is alive and how many customers it has;
    /// a gateway silent for three intervals is forgotten with all its customers.
    #[arg(long, env = "GATEWAY_PRESENCE_HEARTBEAT", default_value = "5s", value_parser = parse_interval)]
    pub presence_heartbeat: Duration,
    /// HTTP deadlines and connection caps (`ORDERFLOW_HTTP_*`, `ORDERFLOW_MAX_*`).
    #[command(flatten)]
    pub http: HttpLimits,
}

/// A duration that a timer repeats on: not zero.
fn parse_interval(raw: &str) -> Result<Duration, String> {
    match parse_duration(raw)? {
        d if d.is_zero() => Err("must be longer than zero".to_owned()),
        d => Ok(d),
    }
}

fn parse_secret(raw: &str) -> Result<SecretString, String> {
    if raw.len() < 32 {
        return Err("must be at least 32 bytes".to_owned());
    }
    Ok(SecretString::from(raw.to_owned()))
}

/// The connection-token secret [`GatewaySettings::for_tests`] gives every test gateway, so that
/// tests can run several gateways as one deployment.
pub const TEST_TOKEN_SECRET: &str = "orderflow-test-connection-token-secret";

impl GatewaySettings {
    /// Defaults for tests: port 0, the given NATS URL, auth and origins, production timings.
    /// The per-source limits are lifted: every test client comes from 127.0.0.1, and tests
    /// open hundreds of connections at once.
    pub fn for_tests(nats_url: String, auth: AuthSettings, allowed_origins: Vec<String>) -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            nats_url,
            allowed_origins,
            auth,
            keep_alive: Duration::from_secs(15),
            client_timeout: Duration::from_secs(30),
            handshake_timeout: Duration::from_secs(15),
            reconnect_grace: Duration::from_secs(20),
            outbound_queue: 512,
            send_timeout: Duration::from_secs(5),
            max_message_bytes: 32 * 1024,
            stateful_buffer_bytes: 100_000,
            invocations_per_second: 20,
            max_connections_per_user: 16,
            drain_grace: Duration::from_secs(10),
            max_replay: 10_000,
            max_replay_since: 5_000,
            replay_window: 65_536,
            tail_check: Duration::from_secs(5),
            live_link: crate::live_link::LinkKind::Direct,
            connection_token_secret: Some(SecretString::from(TEST_TOKEN_SECRET.to_owned())),
            negotiate_rate_per_source: 1_000_000,
            presence_flush: Duration::from_millis(500),
            presence_heartbeat: Duration::from_secs(5),
            http: HttpLimits {
                max_unauthenticated_per_source: 1_000_000,
                ..HttpLimits::default()
            },
        }
    }
}
