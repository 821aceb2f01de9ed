//! Summarised logging of a failure that repeats. When a dependency goes away, every request
//! fails the same way: hundreds of identical lines a second bury everything else and cost disk
//! and shipping. A [`Storm`] logs the first failure with its cause, then one line per period
//! with how many more there were, and one line when the dependency answers again.

use std::fmt::Display;
use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

/// What [`Storm::record`] did with a failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Logged {
    /// The first failure of a storm: logged with its cause.
    First,
    /// A period passed: logged the failures since the last line (`since`) and in the whole
    /// storm (`total`).
    Count {
        /// Failures since the previous line, this one included.
        since: u64,
        /// Failures since the storm began.
        total: u64,
    },
    /// Only counted.
    Counted,
}

/// One kind of repeating failure, e.g. "PostgreSQL unavailable".
#[derive(Debug)]
pub struct Storm {
    what: &'static str,
    every: Duration,
    state: Mutex<Option<Raging>>,
}

/// A storm in progress.
#[derive(Debug, Clone, Copy)]
struct Raging {
    began: Instant,
    last_line: Instant,
    last_failure: Instant,
    /// Failures since `last_line`, not yet in any line.
    unlogged: u64,
    total: u64,
}

impl Storm {
    /// A storm of `what` failures that logs at most one line per `every` (besides its first and
    /// its end). A failure after `every` without any is the first of a new storm.
    pub const fn new(what: &'static str, every: Duration) -> Self {
        Self {
            what,
            every,
            state: Mutex::new(None),
        }
    }

    /// Counts one failure and logs it if it begins a storm or a period has passed.
    pub fn record(&self, cause: &dyn Display) -> Logged {
        let now = Instant::now();
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let raging = match state.as_mut() {
            Some(r) if now.duration_since(r.last_failure) < self.every => r,
            _ => {
                *state = Some(Raging {
                    began: now,
                    last_line: now,
                    last_failure: now,
                    unlogged: 0,
                    total: 1,
                });
                drop(state);
                tracing::error!(%cause, "{}; further failures are counted, not logged one by one",
                    self.what);
                return Logged::First;
            }
        };
        raging.last_failure = now;
        raging.total += 1;
        raging.unlogged += 1;
        if now.duration_since(raging.last_line) < self.every {
            return Logged::Counted;
        }
        let (since, total) = (raging.unlogged, raging.total);
        let lasting = now.duration_since(raging.began);
        raging.unlogged = 0;
        raging.last_line = now;
        drop(state);
        tracing::error!(%cause, failures = since, total, lasting_s = lasting.as_secs(),
            "{}: {since} more failures", self.what);
        Logged::Count { since, total }
    }

    /// The dependency answers again: ends the storm, logging its total, if one was raging.
    /// Returns that total. Cheap when nothing failed, so health checks call it every time.
    pub fn recovered(&self) -> Option<u64> {
        let ended = self
            .state
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take()?;
        let lasting = ended.last_failure.duration_since(ended.began);
        tracing::warn!(
            total = ended.total,
            lasting_s = lasting.as_secs(),
            "{} no more: recovered after {} failures",
            self.what,
            ended.total
        );
        Some(ended.total)
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::{Logged, Storm};

    const EVERY: Duration = Duration::from_secs(10);

    #[tokio::test(start_paused = true)]
    async fn a_storm_logs_its_first_failure_then_one_count_per_period() {
        let storm = Storm::new("test dependency unavailable", EVERY);
        assert_eq!(storm.record(&"refused"), Logged::First);
        for _ in 0..99 {
            tokio::time::advance(Duration::from_millis(50)).await;
            assert_eq!(storm.record(&"refused"), Logged::Counted);
        }
        // 99 × 50 ms = 4.95 s so far; the line comes once 10 s have passed since the first.
        tokio::time::advance(Duration::from_millis(5_050)).await;
        assert_eq!(
            storm.record(&"refused"),
            Logged::Count {
                since: 100,
                total: 101
            }
        );
        tokio::time::advance(Duration::from_secs(1)).await;
        assert_eq!(storm.record(&"refused"), Logged::Counted);
        assert_eq!(storm.recovered(), Some(102));
        assert_eq!(storm.recovered(), None, "ended once");
        assert_eq!(storm.record(&"refused"), Logged::First, "a new storm");
    }

    #[tokio::test(start_paused = true)]
    async fn a_failure_after_a_quiet_period_begins_a_new_storm() {
        let storm = Storm::new("test dependency unavailable", EVERY);
        assert_eq!(storm.record(&"refused"), Logged::First);
        tokio::time::advance(EVERY).await;
        assert_eq!(storm.record(&"refused"), Logged::First);
        tokio::time::advance(EVERY - Duration::from_millis(1)).await;
        assert_eq!(storm.record(&"refused"), Logged::Counted);
    }

    #[test]
    fn recovery_without_a_storm_logs_nothing() {
        let storm = Storm::new("test dependency unavailable", EVERY);
        assert_eq!(storm.recovered(), None);
    }
}
