//! Settings every REST service reads the same way, flattened into each service's own config
//! next to what is only its own (listen address, database URL, pool size).

use orderflow_auth::AuthSettings;
use orderflow_outbox::StreamSettings;
use orderflow_runtime::limits::HttpLimits;

/// What orders and inventory configure alike.
#[derive(Debug, Clone, clap::Args)]
pub struct Settings {
    /// NATS server URL(s), comma separated.
    #[arg(
        long,
        env = "ORDERFLOW_NATS_URL",
        default_value = "nats://127.0.0.1:4222"
    )]
    pub nats_url: String,
    /// `json` for one JSON object per log line, `text` for humans.
    #[arg(long, env = "ORDERFLOW_LOG_FORMAT", default_value = "text")]
    pub log_format: String,
    /// Token validation.
    #[command(flatten)]
    pub auth: AuthSettings,
    /// Event stream retention and replicas.
    #[command(flatten)]
    pub streams: StreamSettings,
    /// HTTP deadlines and connection caps (`ORDERFLOW_HTTP_*`, `ORDERFLOW_MAX_*`).
    #[command(flatten)]
    pub http: HttpLimits,
}

impl Settings {
    /// NATS at `nats_url` and tokens checked by `auth`, everything else as its default: for
    /// tests, benchmarks and the demo, which run a service in-process.
    pub fn local(nats_url: impl Into<String>, auth: AuthSettings) -> Self {
        Self {
            nats_url: nats_url.into(),
            log_format: "text".to_owned(),
            auth,
            streams: StreamSettings::default(),
            http: HttpLimits::default(),
        }
    }
}
