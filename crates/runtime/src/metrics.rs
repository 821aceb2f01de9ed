//! Prometheus metrics. Each service installs one recorder at start-up and serves `/metrics`
//! from its handle; code records with the `metrics` macros and never touches the exporter.

use std::sync::OnceLock;

use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};

/// Installs the process-wide Prometheus recorder once and returns its handle.
///
/// The `metrics` facade has a single global recorder by design, so several apps started in one
/// test process share it; that is why this is idempotent instead of failing on the second call.
pub fn install() -> PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            PrometheusBuilder::new()
                .set_buckets(&[
                    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
                ])
                .expect("static bucket list is non-empty")
                .install_recorder()
                .expect("no other metrics recorder is installed by OrderFlow services")
        })
        .clone()
}
