//! The load: orders changing continuously over HTTP, through every fault.
//!
//! Each customer's current order is walked through its life (create, confirm, process, ship,
//! deliver), then a new one starts. Workers share the customers and together keep a steady
//! pace (about [`RATE_PER_SEC`] requests a second). A failed create is retried with the same
//! `Idempotency-Key`, so a create that committed but whose answer was lost (orders killed
//! mid-request) is not placed twice; a failed transition starts a new order rather than guess
//! the old one's state.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use serde_json::{Value, json};
use tokio::sync::Mutex;
use tokio::task::JoinHandle;
use uuid::Uuid;

use crate::system::{SKU, token};

/// Requests per second over all workers.
pub const RATE_PER_SEC: u64 = 120;
/// Concurrent workers: a request that waits (a timeout, a slow commit) slows only its share.
const WORKERS: usize = 4;
const LIFECYCLE: [&str; 4] = ["confirm", "process", "ship", "deliver"];

/// Where one customer is.
#[derive(Clone, Copy)]
enum Step {
    /// Creating an order with this idempotency key (kept across retries).
    Create(Uuid),
    /// The order exists; `LIFECYCLE[n]` is next.
    Advance(Uuid, usize),
}

/// What the driver did.
#[derive(Debug, Default)]
pub struct DriverStats {
    /// Requests sent.
    pub requests: AtomicU64,
    /// Requests that failed (transport error or non-2xx).
    pub failed: AtomicU64,
    /// Orders created.
    pub created: AtomicU64,
    /// The last failure, for the report.
    pub last_failure: Mutex<Option<String>>,
}

/// A running driver.
pub struct Driver {
    stop: Arc<AtomicBool>,
    workers: Vec<JoinHandle<()>>,
    /// Counters, readable while it runs.
    pub stats: Arc<DriverStats>,
}

impl Driver {
    /// Starts driving orders of `customers` against the orders service at `base`.
    pub fn start(base: String, customers: &[Uuid]) -> Driver {
        let stop = Arc::new(AtomicBool::new(false));
        let stats = Arc::new(DriverStats::default());
        let admin = token(Uuid::new_v4(), true);
        let workers = (0..WORKERS)
            .map(|w| {
                let mine: Vec<(String, Step)> = customers
                    .iter()
                    .skip(w)
                    .step_by(WORKERS)
                    .map(|c| (token(*c, false), Step::Create(Uuid::new_v4())))
                    .collect();
                tokio::spawn(work(
                    base.clone(),
                    mine,
                    admin.clone(),
                    stop.clone(),
                    stats.clone(),
                ))
            })
            .collect();
        Driver {
            stop,
            workers,
            stats,
        }
    }

    /// Stops every worker after its current request.
    pub async fn stop(self) -> Arc<DriverStats> {
        self.stop.store(true, Ordering::SeqCst);
        for worker in self.workers {
            let _ = worker.await;
        }
        self.stats
    }
}

async fn work(
    base: String,
    mut customers: Vec<(String, Step)>,
    admin: String,
    stop: Arc<AtomicBool>,
    stats: Arc<DriverStats>,
) {
    if customers.is_empty() {
        return;
    }
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .expect("an HTTP client");
    let pace = Duration::from_micros(1_000_000 * WORKERS as u64 / RATE_PER_SEC);
    let mut tick = tokio::time::interval(pace);
    // After a slow request, go on at the pace instead of bursting to catch up.
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut i = 0;
    while !stop.load(Ordering::SeqCst) {
        tick.tick().await;
        let n = customers.len();
        let (customer, step) = &mut customers[i % n];
        i += 1;
        let request = match *step {
            Step::Create(key) => http
                .post(format!("{base}/api/orders"))
                .bearer_auth(&*customer)
                .header("Idempotency-Key", key.to_string())
                .json(&json!({ "lines": [{ "sku": SKU, "quantity": 1 }] })),
            Step::Advance(order, n) => http
                .post(format!("{base}/api/orders/{order}/{}", LIFECYCLE[n]))
                .bearer_auth(if n == 0 { &*customer } else { &admin }),
        };
        stats.requests.fetch_add(1, Ordering::Relaxed);
        let outcome = match request.send().await {
            Ok(r) if r.status().is_success() => Ok(r.json::<Value>().await.unwrap_or_default()),
            Ok(r) => {
                let status = r.status();
                Err((
                    status.is_server_error(),
                    format!("{status}: {}", r.text().await.unwrap_or_default()),
                ))
            }
            Err(e) => Err((true, e.to_string())),
        };
        *step = match (outcome, *step) {
            (Ok(body), Step::Create(key)) => match body["id"].as_str().and_then(|s| s.parse().ok())
            {
                Some(id) => {
                    stats.created.fetch_add(1, Ordering::Relaxed);
                    Step::Advance(id, 0)
                }
                None => Step::Create(key),
            },
            (Ok(_), Step::Advance(_, n)) if n + 1 == LIFECYCLE.len() => {
                Step::Create(Uuid::new_v4())
            }
            (Ok(_), Step::Advance(id, n)) => Step::Advance(id, n + 1),
            (Err((retry, why)), old) => {
                stats.failed.fetch_add(1, Ordering::Relaxed);
                *stats.last_failure.lock().await = Some(why);
                match old {
                    // Transport errors and 5xx may have committed: the same key makes the
                    // retry answer with that order instead of placing a second one.
                    Step::Create(key) if retry => Step::Create(key),
                    _ => Step::Create(Uuid::new_v4()),
                }
            }
        };
    }
}
