//! The example subscriber as a program: connects to `NATS_URL`, reads order events with
//! its own durable consumer and prints them. See README.md for the environment variables.

use std::time::Duration;

use orderflow_events::AnyEvent;
use orderflow_example_subscriber::{DEFAULT_DURABLE, order_consumer, run};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let var =
        |name: &str, default: &str| std::env::var(name).unwrap_or_else(|_| default.to_owned());
    let url = var("NATS_URL", "nats://127.0.0.1:4222");
    let durable = var("ORDERFLOW_DURABLE", DEFAULT_DURABLE);
    let filter = var("ORDERFLOW_FILTER", "orders.v1.>");
    let exit_when_idle = std::env::var("ORDERFLOW_EXIT_WHEN_IDLE_MS")
        .ok()
        .map(|ms| ms.parse().map(Duration::from_millis))
        .transpose()?;

    let client = async_nats::connect(&url).await?;
    let consumer = order_consumer(&async_nats::jetstream::new(client), &durable, &filter).await?;
    run(&consumer, exit_when_idle, |received| {
        // Your logic goes here; returning an error leaves the event unacked.
        match &received.event {
            AnyEvent::OrderStatusChanged(e) => println!(
                "seq {}: order {} {:?} -> {:?}",
                received.stream_sequence,
                e.order_number,
                e.old_status(),
                e.new_status()
            ),
            other => println!(
                "seq {}: {} {:?}",
                received.stream_sequence,
                other.schema_name(),
                other
            ),
        }
        Ok(())
    })
    .await
}
