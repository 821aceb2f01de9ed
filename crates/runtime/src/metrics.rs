//! Prometheus metrics. Each service installs one recorder at start-up and serves `/metrics`
//! from its handle; code records with the `metrics` macros and never touches the exporter.

use std::sync::OnceLock;
use std::time::Duration;

use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};

/// Installs the process-wide Prometheus recorder once and returns its handle.
///
/// The `metrics` facade has a single global recorder by design, so several apps started in one
/// test process share it; that is why this is idempotent instead of failing on the second call.
pub fn install() -> PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let handle = PrometheusBuilder::new()
                .set_buckets(&[
                    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
                ])
                .expect("static bucket list is non-empty")
                .install_recorder()
                .expect("no other metrics recorder is installed by OrderFlow services");
            spawn_upkeep(handle.clone());
            handle
        })
        .clone()
}

/// How often recorded histogram samples are folded into their buckets.
const UPKEEP_INTERVAL: Duration = Duration::from_secs(5);

/// The exporter keeps every histogram sample until something folds them into the buckets; it
/// does that on a scrape, and `install_recorder` starts no task for it. Without a scraper the
/// samples pile up forever (the gateway records one per delivery: at 10k deliveries/s its RSS
/// grew by 40 MB in 20 s). A plain thread, so it needs no async runtime and lives with the
/// process-wide recorder.
fn spawn_upkeep(handle: PrometheusHandle) {
    let spawned = std::thread::Builder::new()
        .name("metrics-upkeep".into())
        .spawn(move || {
            loop {
                std::thread::sleep(UPKEEP_INTERVAL);
                handle.run_upkeep();
            }
        });
    if let Err(error) = spawned {
        tracing::error!(%error, "cannot start metrics upkeep; histograms fold only on scrape");
    }
}
