//! Keeping a batch's messages from being redelivered while it is still being applied.
//!
//! The consumer's `ack_wait` is short so that a crashed consumer's messages go to a live one
//! quickly. A live consumer whose batch takes longer (it waits for row locks other batches
//! hold, or for a slow commit) marks the messages in progress (`+WPI`), which restarts their
//! `ack_wait`: otherwise JetStream would hand them to a second worker that could only wait for
//! the same locks. The marking stops after [`MAX_IN_PROGRESS`], so a consumer stuck for good (a
//! database that stopped answering without closing the connection) lets its messages go to
//! another one.

use std::convert::Infallible;
use std::future::Future;
use std::time::Duration;

use tokio::time::Instant;

/// Longest a batch keeps its messages by marking them in progress.
pub const MAX_IN_PROGRESS: Duration = Duration::from_secs(30);

/// Calls `touch` every `every` until [`MAX_IN_PROGRESS`] has passed, then waits forever: run it
/// beside the work (`select!`) and drop it when the work is done.
pub(crate) async fn keep_in_progress<F, Touched>(every: Duration, mut touch: F) -> Infallible
where
    F: FnMut() -> Touched,
    Touched: Future<Output = ()>,
{
    let until = Instant::now() + MAX_IN_PROGRESS;
    // An `every` of zero (an ack_wait under 3 ns) would spin.
    let every = every.max(Duration::from_millis(1));
    let mut next = Instant::now() + every;
    while next <= until {
        tokio::time::sleep_until(next).await;
        touch().await;
        next += every;
    }
    std::future::pending().await
}

#[cfg(test)]
mod tests {
    use std::cell::Cell;
    use std::time::Duration;

    use super::{MAX_IN_PROGRESS, keep_in_progress};

    #[tokio::test(start_paused = true)]
    async fn marks_every_period_while_the_work_runs_and_stops_with_it() {
        let touched = Cell::new(0);
        let work = tokio::time::sleep(Duration::from_millis(3_500));
        tokio::select! {
            () = work => {}
            never = keep_in_progress(Duration::from_secs(1), || async { touched.set(touched.get() + 1) }) => match never {},
        }
        assert_eq!(touched.get(), 3, "at 1, 2 and 3 s");
    }

    #[tokio::test(start_paused = true)]
    async fn quick_work_marks_nothing() {
        let touched = Cell::new(0);
        tokio::select! {
            () = tokio::time::sleep(Duration::from_millis(999)) => {}
            never = keep_in_progress(Duration::from_secs(1), || async { touched.set(touched.get() + 1) }) => match never {},
        }
        assert_eq!(touched.get(), 0);
    }

    #[tokio::test(start_paused = true)]
    async fn gives_up_after_the_limit_so_a_stuck_batch_is_redelivered() {
        let touched = Cell::new(0);
        tokio::select! {
            () = tokio::time::sleep(MAX_IN_PROGRESS * 2) => {}
            never = keep_in_progress(Duration::from_secs(1), || async { touched.set(touched.get() + 1) }) => match never {},
        }
        assert_eq!(touched.get(), MAX_IN_PROGRESS.as_secs() as usize);
    }
}
