//! Polling a service's `/readyz` in tests of its readiness under faults.

use std::time::{Duration, Instant};

/// Asks `url` (a `/readyz`) every 50 ms until `done` holds for its status and JSON body, for
/// at most 20 s. Every answer must come within `fastest`: readiness is answered from a
/// background probe and must never wait for a dependency. Returns the slowest answer seen.
pub async fn readyz_until(
    http: &reqwest::Client,
    url: &str,
    fastest: Duration,
    done: impl Fn(reqwest::StatusCode, &serde_json::Value) -> bool,
) -> Duration {
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut slowest = Duration::ZERO;
    loop {
        let asked = Instant::now();
        let response = http.get(url).send().await.expect("/readyz answers");
        let took = asked.elapsed();
        slowest = slowest.max(took);
        assert!(took < fastest, "/readyz took {took:?}");
        let status = response.status();
        let body: serde_json::Value = response.json().await.expect("/readyz answers JSON");
        if done(status, &body) {
            return slowest;
        }
        assert!(
            Instant::now() < deadline,
            "/readyz never got there: {status} {body}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
