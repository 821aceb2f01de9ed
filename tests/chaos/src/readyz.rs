//! Watches `/readyz` of orders and inventory through a round, every 100 ms: how long the
//! slowest answer took (a probe held up by a dependency is what made load balancers give up on
//! healthy replicas), how many answers said "not ready", and how many got no answer at all (the
//! service was dead, or slower than the probe's own 2 s timeout).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use tokio::task::JoinHandle;

/// What the probes saw, over both services.
#[derive(Clone, Copy, Debug, Default)]
pub struct ReadyzFigures {
    /// Probes answered.
    pub answered: usize,
    /// The slowest answer.
    pub slowest: Duration,
    /// Answers other than 200.
    pub unready: usize,
    /// Probes without an answer (refused or reset: the service was not running).
    pub unanswered: usize,
    /// Probes not answered within 2 s.
    pub timed_out: usize,
}

/// A running watch.
pub struct ReadyzWatch {
    stop: Arc<AtomicBool>,
    task: JoinHandle<ReadyzFigures>,
}

impl ReadyzWatch {
    /// Starts probing `urls` (base URLs).
    pub fn start(urls: Vec<String>) -> ReadyzWatch {
        let stop = Arc::new(AtomicBool::new(false));
        let task = tokio::spawn(watch(urls, stop.clone()));
        ReadyzWatch { stop, task }
    }

    /// Stops and returns the figures.
    pub async fn stop(self) -> ReadyzFigures {
        self.stop.store(true, Ordering::SeqCst);
        self.task.await.unwrap_or_default()
    }
}

async fn watch(urls: Vec<String>, stop: Arc<AtomicBool>) -> ReadyzFigures {
    let http = orderflow_runtime::http::client_builder()
        .timeout(Duration::from_secs(2))
        .build()
        .expect("an HTTP client");
    let mut figures = ReadyzFigures::default();
    while !stop.load(Ordering::SeqCst) {
        for url in &urls {
            let asked = Instant::now();
            match http.get(format!("{url}/readyz")).send().await {
                Ok(response) => {
                    figures.answered += 1;
                    figures.slowest = figures.slowest.max(asked.elapsed());
                    if !response.status().is_success() {
                        figures.unready += 1;
                    }
                }
                Err(e) if e.is_timeout() => figures.timed_out += 1,
                Err(_) => figures.unanswered += 1,
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    figures
}
