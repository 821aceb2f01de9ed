//! The gateway's NATS connection. Besides connecting (and reconnecting forever), it reports
//! every moment live messages may have been missed, a (re)connection or a slow-consumer drop,
//! by bumping a counter the live feeds watch: each then compares its stream's end with what it
//! delivered and fills the gap.

use std::time::Duration;

use async_nats::{ConnectOptions, Event};
use tokio::sync::watch;

/// A stalled link (a partition that drops no connection) is noticed after two unanswered pings.
const PING_INTERVAL: Duration = Duration::from_secs(10);

/// Connects to `urls` (comma separated); NATS being down does not fail start-up.
pub async fn connect(
    urls: &str,
    link: watch::Sender<u64>,
) -> Result<async_nats::Client, async_nats::ConnectError> {
    let link = std::sync::Arc::new(link);
    orderflow_runtime::connect::with_url_credentials(ConnectOptions::new(), urls)
        .name("orderflow-gateway")
        .retry_on_initial_connect()
        .ping_interval(PING_INTERVAL)
        .event_callback(move |event| {
            let link = link.clone();
            async move {
                match &event {
                    Event::Connected => tracing::info!("NATS connected"),
                    Event::Disconnected => tracing::warn!("NATS connection lost; reconnecting"),
                    Event::SlowConsumer(_) => {
                        tracing::warn!("NATS dropped live messages: the gateway fell behind")
                    }
                    other => tracing::debug!(event = %other, "NATS event"),
                }
                if matches!(event, Event::Connected | Event::SlowConsumer(_)) {
                    link.send_modify(|n| *n += 1);
                }
            }
        })
        .connect(urls.split(',').map(str::trim).collect::<Vec<_>>())
        .await
}
