//! The load: orders changing continuously over HTTP, through every fault.
//!
//! Each customer's current order is walked through its life (create, confirm, process, ship,
//! deliver), then a new one starts. Workers share the customers and together keep a steady
//! pace (about [`RATE_PER_SEC`] requests a second).
//!
//! Every request carries an `Idempotency-Key`, kept across the retries of that request. A
//! transport error or a 5xx may hide a commit (orders killed mid-request), so the request is
//! retried with the same key, no earlier than its `Retry-After`: the service answers a retry
//! with what the first attempt committed, so a create is never placed twice and a transition
//! never refused as already done. A 4xx ends the order and a new one starts; a 4xx answering a
//! retry is counted, since it means a retry was not recognised. Every 2xx is written to the
//! [`Acked`] ledger, which the round checks against the database and the stream.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use reqwest::header::{CONTENT_TYPE, RETRY_AFTER};
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

/// Where one customer is; `key` names the request being made (kept across its retries).
#[derive(Clone, Copy)]
enum Step {
    /// Creating an order.
    Create { key: Uuid, retrying: bool },
    /// The order exists; `LIFECYCLE[next]` is next.
    Advance {
        order: Uuid,
        next: usize,
        key: Uuid,
        retrying: bool,
    },
}

impl Step {
    fn create() -> Step {
        Step::Create {
            key: Uuid::new_v4(),
            retrying: false,
        }
    }

    fn advance(order: Uuid, next: usize) -> Step {
        Step::Advance {
            order,
            next,
            key: Uuid::new_v4(),
            retrying: false,
        }
    }

    /// The same request again, same key.
    fn retried(self) -> Step {
        match self {
            Step::Create { key, .. } => Step::Create {
                key,
                retrying: true,
            },
            Step::Advance {
                order, next, key, ..
            } => Step::Advance {
                order,
                next,
                key,
                retrying: true,
            },
        }
    }

    fn retrying(self) -> bool {
        match self {
            Step::Create { retrying, .. } | Step::Advance { retrying, .. } => retrying,
        }
    }
}

struct Customer {
    id: Uuid,
    token: String,
    step: Step,
    /// A `Retry-After` to honour before the next attempt.
    not_before: Option<Instant>,
    /// Turns to let pass before the first request.
    skip: usize,
}

/// An acknowledged change: the service answered 2xx with the order at `version`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Acked {
    /// The order.
    pub order: Uuid,
    /// Its version in the answer.
    pub version: u64,
}

/// What the driver did, counted while it runs.
#[derive(Debug, Default)]
pub struct DriverStats {
    /// Requests sent, retries included.
    pub requests: AtomicU64,
    /// Requests that did not get a 2xx.
    pub failed: AtomicU64,
    /// ... of which got no HTTP answer (connection refused or reset, timeout).
    pub transport: AtomicU64,
    /// ... of which were `503 database_unavailable` problems with a `Retry-After`.
    pub unavailable: AtomicU64,
    /// ... of which were anything else (another status, a 503 without `Retry-After`).
    pub other: AtomicU64,
    /// Requests that were retries of an earlier one (same key).
    pub retries: AtomicU64,
    /// Retries answered 409: a committed request the service did not recognise.
    pub retry_conflicts: AtomicU64,
    /// The slowest answer to a failed request (a 503, say), in microseconds: failing must be
    /// fast too.
    pub slowest_failure_us: AtomicU64,
    /// Orders created.
    pub created: AtomicU64,
    /// The last failure and the last failure of the `other` kind, for the report.
    pub last_failure: Mutex<Option<String>>,
    /// See `last_failure`.
    pub last_other: Mutex<Option<String>>,
}

/// What a stopped driver hands the round.
pub struct DriverReport {
    /// Counters.
    pub stats: Arc<DriverStats>,
    /// Every acknowledged change, in no particular order.
    pub acked: Vec<Acked>,
    /// Creates that failed and were not retried before the stop, as (customer, key): they may
    /// have committed without an answer.
    pub unanswered_creates: Vec<(Uuid, Uuid)>,
}

/// A running driver.
pub struct Driver {
    stop: Arc<AtomicBool>,
    workers: Vec<JoinHandle<Vec<Customer>>>,
    acked: Arc<Mutex<Vec<Acked>>>,
    /// Counters, readable while it runs.
    pub stats: Arc<DriverStats>,
}

impl Driver {
    /// Starts driving orders of `customers` against the orders service at `base`.
    pub fn start(base: String, customers: &[Uuid]) -> Driver {
        let stop = Arc::new(AtomicBool::new(false));
        let stats = Arc::new(DriverStats::default());
        let acked = Arc::new(Mutex::new(Vec::new()));
        let admin = token(Uuid::new_v4(), true);
        let workers = (0..WORKERS)
            .map(|w| {
                let mine: Vec<Customer> = customers
                    .iter()
                    .skip(w)
                    .step_by(WORKERS)
                    .enumerate()
                    .map(|(j, c)| Customer {
                        id: *c,
                        token: token(*c, false),
                        step: Step::create(),
                        not_before: None,
                        // Staggered, so that every pass over the customers has each step of
                        // the life in it: confirmations (what inventory acts on) arrive
                        // steadily rather than in one burst every few passes.
                        skip: j % (LIFECYCLE.len() + 1),
                    })
                    .collect();
                let worker = Worker {
                    base: base.clone(),
                    admin: admin.clone(),
                    stats: stats.clone(),
                    acked: acked.clone(),
                };
                tokio::spawn(worker.run(mine, stop.clone()))
            })
            .collect();
        Driver {
            stop,
            workers,
            acked,
            stats,
        }
    }

    /// Stops every worker after its current request.
    pub async fn stop(self) -> DriverReport {
        self.stop.store(true, Ordering::SeqCst);
        let mut unanswered_creates = Vec::new();
        for worker in self.workers {
            for c in worker.await.unwrap_or_default() {
                if let Step::Create {
                    key,
                    retrying: true,
                } = c.step
                {
                    unanswered_creates.push((c.id, key));
                }
            }
        }
        let acked = std::mem::take(&mut *self.acked.lock().await);
        DriverReport {
            stats: self.stats,
            acked,
            unanswered_creates,
        }
    }
}

/// How the service answered one request.
enum Answer {
    Ok(Value),
    /// No HTTP answer at all.
    Transport(String),
    /// `503 database_unavailable` with `Retry-After`.
    Unavailable(Duration),
    /// Any other status.
    Failed(reqwest::StatusCode, String),
}

struct Worker {
    base: String,
    admin: String,
    stats: Arc<DriverStats>,
    acked: Arc<Mutex<Vec<Acked>>>,
}

impl Worker {
    async fn run(self, mut customers: Vec<Customer>, stop: Arc<AtomicBool>) -> Vec<Customer> {
        if customers.is_empty() {
            return customers;
        }
        let http = orderflow_runtime::http::client_builder()
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
            let customer = &mut customers[i % n];
            i += 1;
            if customer.skip > 0 {
                customer.skip -= 1;
                continue;
            }
            if customer.not_before.is_some_and(|t| Instant::now() < t) {
                continue;
            }
            customer.not_before = None;
            let answer = self.send(&http, customer).await;
            self.note(customer, answer).await;
        }
        customers
    }

    async fn send(&self, http: &reqwest::Client, customer: &Customer) -> Answer {
        let request = match customer.step {
            Step::Create { key, .. } => http
                .post(format!("{}/api/orders", self.base))
                .bearer_auth(&customer.token)
                .header("Idempotency-Key", key.to_string())
                .json(&json!({ "lines": [{ "sku": SKU, "quantity": 1 }] })),
            Step::Advance {
                order, next, key, ..
            } => http
                .post(format!(
                    "{}/api/orders/{order}/{}",
                    self.base, LIFECYCLE[next]
                ))
                .bearer_auth(if next == 0 {
                    &customer.token
                } else {
                    &self.admin
                })
                .header("Idempotency-Key", key.to_string()),
        };
        self.stats.requests.fetch_add(1, Ordering::Relaxed);
        if customer.step.retrying() {
            self.stats.retries.fetch_add(1, Ordering::Relaxed);
        }
        let sent = Instant::now();
        let response = match request.send().await {
            Ok(r) => r,
            Err(e) => return Answer::Transport(e.to_string()),
        };
        let status = response.status();
        if status.is_success() {
            return Answer::Ok(response.json().await.unwrap_or_default());
        }
        let took = u64::try_from(sent.elapsed().as_micros()).unwrap_or(u64::MAX);
        self.stats
            .slowest_failure_us
            .fetch_max(took, Ordering::Relaxed);
        let problem = response
            .headers()
            .get(CONTENT_TYPE)
            .is_some_and(|v| v == "application/problem+json");
        let retry_after = response
            .headers()
            .get(RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        let text = response.text().await.unwrap_or_default();
        let code = serde_json::from_str::<Value>(&text).unwrap_or_default()["code"].clone();
        match retry_after {
            Some(secs) if status == 503 && problem && code == "database_unavailable" => {
                Answer::Unavailable(Duration::from_secs(secs))
            }
            _ => Answer::Failed(status, text),
        }
    }

    async fn note(&self, customer: &mut Customer, answer: Answer) {
        let step = customer.step;
        let why = match answer {
            Answer::Ok(body) => {
                let order = body["id"].as_str().and_then(|s| s.parse().ok());
                let version = body["version"].as_u64();
                let (Some(order), Some(version)) = (order, version) else {
                    self.fail(&self.stats.other, format!("2xx without an order: {body}"))
                        .await;
                    customer.step = Step::create();
                    return;
                };
                self.acked.lock().await.push(Acked { order, version });
                customer.step = match step {
                    Step::Create { .. } => {
                        self.stats.created.fetch_add(1, Ordering::Relaxed);
                        Step::advance(order, 0)
                    }
                    Step::Advance { next, .. } if next + 1 == LIFECYCLE.len() => Step::create(),
                    Step::Advance { next, .. } => Step::advance(order, next + 1),
                };
                return;
            }
            Answer::Transport(why) => {
                self.fail(&self.stats.transport, why).await;
                customer.step = step.retried();
                return;
            }
            Answer::Unavailable(after) => {
                self.fail(&self.stats.unavailable, "503 database_unavailable".into())
                    .await;
                customer.step = step.retried();
                customer.not_before = Some(Instant::now() + after);
                return;
            }
            Answer::Failed(status, text) => format!("{status}: {text}"),
        };
        self.fail(&self.stats.other, why.clone()).await;
        let (status, retrying) = (why.get(..3).unwrap_or_default(), step.retrying());
        if status.starts_with('5') {
            // It may have committed: the same key again.
            customer.step = step.retried();
        } else {
            if retrying && status == "409" {
                self.stats.retry_conflicts.fetch_add(1, Ordering::Relaxed);
            }
            customer.step = Step::create();
        }
    }

    async fn fail(&self, kind: &AtomicU64, why: String) {
        self.stats.failed.fetch_add(1, Ordering::Relaxed);
        kind.fetch_add(1, Ordering::Relaxed);
        if std::ptr::eq(kind, &self.stats.other) {
            *self.stats.last_other.lock().await = Some(why.clone());
        }
        *self.stats.last_failure.lock().await = Some(why);
    }
}
