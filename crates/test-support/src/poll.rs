//! Waiting for a condition in tests: poll it until it holds or a deadline passes, instead of
//! sleeping for a fixed time and hoping it held by then.

use std::future::Future;
use std::time::Duration;

/// How long [`eventually`] waits before it gives up.
pub const EVENTUALLY: Duration = Duration::from_secs(20);

/// How often the helpers here ask again.
const EVERY: Duration = Duration::from_millis(20);

/// Polls `check` until it returns `Some`, or panics after [`EVENTUALLY`] naming `what`.
pub async fn eventually<T, F, Fut>(what: &str, check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    match within(EVENTUALLY, check).await {
        Some(value) => value,
        None => panic!("timed out waiting for {what}"),
    }
}

/// Polls `check` until it returns `Some`, for at most `limit`; `None` if it never did (for
/// tests that assert something does *not* happen within a time).
pub async fn within<T, F, Fut>(limit: Duration, mut check: F) -> Option<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        if let Some(value) = check().await {
            return Some(value);
        }
        if tokio::time::Instant::now() >= deadline {
            return None;
        }
        tokio::time::sleep(EVERY).await;
    }
}

/// Polls `check` until it is true, for at most `limit`; whether it became true.
pub async fn holds_within<F, Fut>(limit: Duration, mut check: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    within(limit, || {
        let done = check();
        async move { done.await.then_some(()) }
    })
    .await
    .is_some()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn within_gives_up_at_its_limit_and_eventually_returns_the_value() {
        let started = tokio::time::Instant::now();
        assert_eq!(
            within(Duration::from_secs(3), || async { None::<()> }).await,
            None
        );
        let waited = started.elapsed();
        assert!(waited >= Duration::from_secs(3) && waited < Duration::from_secs(4));

        let mut calls = 0;
        let value = eventually("the third call", || {
            calls += 1;
            let n = calls;
            async move { (n == 3).then_some(n) }
        })
        .await;
        assert_eq!(value, 3);
        assert!(!holds_within(Duration::from_secs(1), || async { false }).await);
    }
}
