//! Creating and updating the JetStream streams of the event contract, idempotently, at start.
//!
//! Every service that writes or reads events calls [`ensure_streams`] with the same settings
//! (they come from the shared `ORDERFLOW_STREAM_*` variables), so whichever starts first creates
//! the streams and the others find them as configured.

use std::time::Duration;

use async_nats::jetstream::{self, stream};
use orderflow_events::streams;

use crate::Error;

/// Retention and durability of the event streams; flatten into a service's config.
#[derive(Debug, Clone, PartialEq, Eq, clap::Args)]
pub struct StreamSettings {
    /// Replicas per stream: 1 on a single server, 3 on a cluster.
    #[arg(
        long = "stream-replicas",
        env = "ORDERFLOW_STREAM_REPLICAS",
        default_value_t = 1
    )]
    pub replicas: usize,
    /// Events older than this are dropped; a client resuming from before it must reload.
    #[arg(long = "stream-max-age-secs", env = "ORDERFLOW_STREAM_MAX_AGE_SECS",
          default_value = "604800", value_parser = parse_secs)]
    pub max_age: Duration,
    /// Upper bound on each stream's size in bytes.
    #[arg(long = "stream-max-bytes", env = "ORDERFLOW_STREAM_MAX_BYTES", default_value_t = 1 << 30)]
    pub max_bytes: i64,
    /// How long JetStream remembers `Nats-Msg-Id`s. Must exceed the longest time a relay may take
    /// to republish a row it published but could not delete (a crash and restart).
    #[arg(long = "stream-duplicate-window-secs", env = "ORDERFLOW_STREAM_DUPLICATE_WINDOW_SECS",
          default_value = "3600", value_parser = parse_secs)]
    pub duplicate_window: Duration,
}

fn parse_secs(raw: &str) -> Result<Duration, String> {
    raw.parse::<u64>()
        .map(Duration::from_secs)
        .map_err(|e| format!("{raw:?}: {e}"))
}

impl Default for StreamSettings {
    fn default() -> Self {
        Self {
            replicas: 1,
            max_age: Duration::from_secs(7 * 24 * 3600),
            max_bytes: 1 << 30,
            duplicate_window: Duration::from_secs(3600),
        }
    }
}

/// The stream configurations for `settings`.
pub fn stream_configs(settings: &StreamSettings) -> Vec<stream::Config> {
    streams::ALL
        .into_iter()
        .map(|spec| stream::Config {
            name: spec.name.to_owned(),
            subjects: spec.subjects.iter().map(|s| (*s).to_owned()).collect(),
            storage: stream::StorageType::File,
            retention: stream::RetentionPolicy::Limits,
            discard: stream::DiscardPolicy::Old,
            num_replicas: settings.replicas,
            max_age: settings.max_age,
            max_bytes: settings.max_bytes,
            duplicate_window: settings.duplicate_window,
            // Direct gets let gateways read history from any replica for resume.
            allow_direct: true,
            republish: Some(stream::Republish {
                source: spec.republish.source.to_owned(),
                destination: spec.republish.destination.to_owned(),
                headers_only: false,
            }),
            ..Default::default()
        })
        .collect()
}

/// Creates the streams, or updates them to `settings` when they already exist.
pub async fn ensure_streams(
    jetstream: &jetstream::Context,
    settings: &StreamSettings,
) -> Result<(), Error> {
    for config in stream_configs(settings) {
        let name = config.name.clone();
        jetstream
            .create_or_update_stream(config)
            .await
            .map_err(|e| Error::Stream {
                stream: name,
                reason: e.to_string(),
            })?;
    }
    Ok(())
}
