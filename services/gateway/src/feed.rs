//! The live feed of one stream: one NATS core subscription to the stream's whole republished
//! subject space (`live.orders.v1.>`), so that the gateway sees every sequence and a missing one
//! is a visible gap. Events go on to the groups strictly in stream order, each exactly once:
//!
//! - a message one past the cursor is fanned out; one at or below it is a duplicate (a message
//!   that a gap fill already delivered) and is dropped;
//! - a message further ahead means messages were lost on the way (NATS restarted, a partition,
//!   a slow-consumer drop): the gap is read back from the stream with batched direct gets and
//!   fanned out first, while newer live messages wait in the subscription;
//! - when the NATS connection comes back, and every few seconds otherwise, the stream's last
//!   sequence is compared with the cursor, so a gap is filled even when no newer message comes
//!   to reveal it (the last update before a broker restart).
//!
//! Every event also enters the stream's in-memory [`Window`], from which resumes are served.
//! Events the stream no longer holds (an outage longer than retention) cannot be delivered:
//! their would-be recipients are closed with a hint to reconnect, and their resume then answers
//! `reload` instead of hiding the gap.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::sync::watch;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::groups::Groups;
use crate::history::{Bounds, History, HistoryError};
use crate::live_link::{Arrival, LinkKind, Live, LiveMessage};
use crate::metrics as m;
use crate::protocol::StreamName;
use crate::stored::{Interest, StoredEvent};
use crate::window::{Slice, Window};

/// Messages read per direct get while filling a gap: a quarter of a connection's default queue,
/// so that between two reads its task can write what the last one queued (a whole queue's worth
/// at once could close a dashboard connection as a slow consumer).
const FILL_BATCH: u64 = 128;
/// A periodic check waits this long for in-flight messages before it reads the stream.
const TAIL_GRACE: Duration = Duration::from_secs(1);
/// A gap that cannot be read for this long is given up (its recipients are closed).
const FILL_GIVE_UP: Duration = Duration::from_secs(60);
/// Messages read per direct get when loading the window at start.
const PREFILL_BATCH: u64 = 1024;
/// A check of the stream's end that takes longer is abandoned until the next one.
const PROBE_TIMEOUT: Duration = Duration::from_secs(10);

/// A background read of the stream's bounds, with the grace to apply to its answer.
type Probe = std::pin::Pin<Box<dyn std::future::Future<Output = Probed> + Send>>;

/// What a [`Probe`] found: the stream's bounds, the grace to give in-flight live messages, and
/// the cursor when the read was sent.
struct Probed {
    bounds: Result<Option<Bounds>, HistoryError>,
    grace: Duration,
    asked_at: u64,
}

/// The state of one stream's feed that connections read: the window and whether it started.
pub struct Feed {
    stream: StreamName,
    window: Mutex<Window>,
    ready: AtomicBool,
}

impl Feed {
    /// A feed for `stream` whose window keeps `capacity` events.
    pub fn new(stream: StreamName, capacity: usize) -> Arc<Feed> {
        Arc::new(Feed {
            stream,
            window: Mutex::new(Window::new(capacity, 1)),
            ready: AtomicBool::new(false),
        })
    }

    /// The stream this feed follows.
    pub fn stream(&self) -> StreamName {
        self.stream
    }

    /// Events the window keeps at most.
    fn capacity(&self) -> usize {
        self.window().capacity()
    }

    /// Whether the feed knows where the stream stands and delivers live events.
    pub fn is_ready(&self) -> bool {
        self.ready.load(Ordering::Acquire)
    }

    fn window(&self) -> MutexGuard<'_, Window> {
        self.window
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The events in `(after, upto]` of `interest` the window still holds.
    pub fn slice(&self, after: u64, upto: u64, interest: Interest) -> Slice {
        self.window().slice(after, upto, interest)
    }
}

/// Everything the feed's task needs.
pub struct FeedTask {
    /// The feed it fills.
    pub feed: Arc<Feed>,
    /// Where events go.
    pub groups: Arc<Groups>,
    /// The NATS connection.
    pub client: async_nats::Client,
    /// Its servers (comma separated), for the direct live link.
    pub nats_url: String,
    /// Which link carries live messages.
    pub link_kind: LinkKind,
    /// Reads gaps back.
    pub history: History,
    /// Changes whenever the NATS connection (re)connects or dropped messages.
    pub link: watch::Receiver<u64>,
    /// How often the stream's end is compared with the cursor.
    pub tail_check: Duration,
    /// Ends the task.
    pub shutdown: CancellationToken,
}

impl FeedTask {
    fn stream(&self) -> StreamName {
        self.feed.stream
    }

    fn cursor(&self) -> u64 {
        self.groups.cursors()[self.stream() as usize]
    }

    /// Runs until shutdown or until the NATS client is dropped.
    pub async fn run(mut self) {
        let Some(mut live) = self.start().await else {
            return;
        };
        let mut check = tokio::time::interval(self.tail_check);
        check.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        check.tick().await;
        // A read of the stream's end runs beside live delivery, never in its way: during a
        // leader election it can take seconds, and live messages keep coming meanwhile.
        let mut probe: Option<Probe> = None;
        // A stream end seen by a check, and when to fill up to it if live traffic has not.
        let mut due: Option<(u64, Instant)> = None;
        loop {
            let deadline = due.map_or_else(Instant::now, |(_, at)| at);
            tokio::select! {
                () = self.shutdown.cancelled() => return,
                arrival = live.next() => match arrival {
                    Some(Arrival::Message(message)) => self.on_live(&message).await,
                    // Resubscribed after the link dropped: what was published meanwhile never
                    // came live. Fill at once.
                    Some(Arrival::Linked) => probe = Some(self.probe(Duration::ZERO)),
                    None => return,
                },
                Ok(()) = self.link.changed() => {
                    // Reconnected: what was published meanwhile never came live. Fill at once.
                    probe = Some(self.probe(Duration::ZERO));
                }
                _ = check.tick(), if probe.is_none() && due.is_none() => {
                    metrics::gauge!(m::FEED_POSITION, "stream" => self.stream().as_str()).set(self.cursor() as f64);
                    probe = Some(self.probe(TAIL_GRACE));
                }
                probed = async { probe.as_mut().expect("guarded").await }, if probe.is_some() => {
                    probe = None;
                    let grace = probed.grace;
                    if let Some(end) = self.stream_end(probed) {
                        due = Some((end, Instant::now() + grace));
                    }
                }
                () = tokio::time::sleep_until(deadline), if due.is_some() => {
                    if let Some((end, _)) = due.take() {
                        self.fill(end).await;
                    }
                }
            }
        }
    }

    /// Reads the stream's bounds in the background; resolves with them and the grace to give
    /// in-flight live messages before filling up to the end.
    fn probe(&self, grace: Duration) -> Probe {
        let history = self.history.clone();
        let stream = self.stream();
        let asked_at = self.cursor();
        Box::pin(async move {
            let bounds = match tokio::time::timeout(PROBE_TIMEOUT, history.bounds(stream)).await {
                Ok(result) => result,
                Err(_) => Err(HistoryError::Unavailable("stream info timed out".into())),
            };
            Probed {
                bounds,
                grace,
                asked_at,
            }
        })
    }

    /// Subscribes, then reads where the stream stands: every message stored after that arrives
    /// on the subscription, which the server registered before answering the read.
    async fn start(&mut self) -> Option<Live> {
        let subject = orderflow_events::subjects::live(match self.stream() {
            StreamName::Orders => orderflow_events::subjects::ALL_ORDER_EVENTS,
            StreamName::Inventory => orderflow_events::subjects::ALL_INVENTORY_EVENTS,
        });
        let mut live = Live::new(self.link_kind, &self.nats_url, self.client.clone(), subject);
        loop {
            tokio::select! {
                () = self.shutdown.cancelled() => return None,
                arrival = live.next() => match arrival {
                    Some(Arrival::Linked) => break,
                    // Nothing comes before the subscription is in place.
                    Some(Arrival::Message(_)) => {}
                    None => return None,
                },
            }
        }
        let bounds = loop {
            match self.history.bounds(self.stream()).await {
                Ok(bounds) => break bounds,
                Err(error) => {
                    tracing::warn!(%error, stream = self.stream().as_str(), "cannot read the stream's position yet; retrying");
                    self.pause(Duration::from_secs(1)).await?;
                }
            }
        };
        // A stream that does not exist yet starts at 1.
        let start = bounds.map_or(0, |b| b.last);
        self.feed.window().reset(start + 1);
        if let Some(bounds) = bounds {
            self.prefill(bounds).await;
        }
        self.groups.set_cursor(self.stream(), start);
        self.feed.ready.store(true, Ordering::Release);
        metrics::gauge!(m::FEED_POSITION, "stream" => self.stream().as_str()).set(start as f64);
        tracing::info!(
            stream = self.stream().as_str(),
            from = start,
            "live feed started"
        );
        Some(live)
    }

    /// Loads the stream's most recent events into the window before the feed goes live, so that
    /// a gateway that just started (after a crash, a deploy, a scale-out) serves the resumes of
    /// the clients that move to it from memory: thousands of filtered stream reads at once cost
    /// nats-server ~1.4 ms of CPU each (measured: 10,000 resumes read from the stream took
    /// 13 s and 14 CPU seconds of nats-server, against 0.8 s from the window). One sequential
    /// read of the window's worth is cheap. If it fails, the window just starts empty.
    async fn prefill(&self, bounds: Bounds) {
        let capacity = self.feed.capacity() as u64;
        if capacity == 0 || bounds.last == 0 {
            return;
        }
        let mut next = bounds.first.max(bounds.last.saturating_sub(capacity) + 1);
        self.feed.window().reset(next);
        while next <= bounds.last {
            let want = (bounds.last - next + 1).min(PREFILL_BATCH) as usize;
            let batch = match self.history.batch(self.stream(), next, None, want).await {
                Ok(batch) if !batch.events.is_empty() => batch,
                Ok(_) => break,
                Err(error) => {
                    tracing::warn!(%error, stream = self.stream().as_str(), "could not load recent events; resumes read them from the stream");
                    break;
                }
            };
            let mut window = self.feed.window();
            for event in batch.events {
                next = event.position.sequence + 1;
                if event.position.sequence <= bounds.last {
                    window.push(Arc::new(event));
                }
            }
        }
        // Whatever happened, the window must end where the feed starts.
        let mut window = self.feed.window();
        if window.next() != bounds.last + 1 {
            window.reset(bounds.last + 1);
        }
    }

    /// Sleeps unless shutdown comes first (`None`).
    async fn pause(&self, how_long: Duration) -> Option<()> {
        tokio::select! {
            () = self.shutdown.cancelled() => None,
            () = tokio::time::sleep(how_long) => Some(()),
        }
    }

    async fn on_live(&mut self, message: &LiveMessage<'_>) {
        let Some(event) =
            StoredEvent::from_parts(message.subject, &message.headers, message.payload)
        else {
            tracing::warn!(subject = %message.subject, "live message without a stream position skipped");
            return;
        };
        let sequence = event.position.sequence;
        let cursor = self.cursor();
        if event.position.stream != self.stream() || sequence <= cursor {
            metrics::counter!(m::FEED_DUPLICATES).increment(1);
            return;
        }
        if sequence > cursor + 1 {
            self.fill(sequence - 1).await;
        }
        let push = crate::trace::push_span(&message.headers, event.position);
        let _in_push = push.as_ref().map(tracing::Span::enter);
        self.accept(Arc::new(event));
    }

    fn accept(&self, event: Arc<StoredEvent>) {
        self.feed.window().push(Arc::clone(&event));
        self.groups.fan_out(&event);
    }

    /// The stream's last sequence if it is ahead of the cursor. A stream that went backwards
    /// (deleted and recreated, or restored from an older copy) restarts the feed at its end.
    fn stream_end(&self, probed: Probed) -> Option<u64> {
        let bounds = match probed.bounds {
            Ok(bounds) => bounds,
            Err(error) => {
                tracing::debug!(%error, "stream position check failed");
                return None;
            }
        };
        let last = bounds.map_or(0, |b| b.last);
        match judge_tail(probed.asked_at, self.cursor(), last) {
            Tail::Behind => {
                tracing::error!(
                    stream = self.stream().as_str(),
                    delivered = probed.asked_at,
                    last,
                    "the stream is behind what was delivered: restarting the feed at its end"
                );
                // Clients hold positions past the new end; they must start over.
                self.groups.kick_all(self.stream());
                self.skip_to(last);
                None
            }
            Tail::Ahead(end) => Some(end),
            Tail::Level => None,
        }
    }

    /// Reads and fans out everything up to `target` the live subscription missed.
    async fn fill(&mut self, target: u64) {
        if self.cursor() >= target {
            return;
        }
        let started = Instant::now();
        let mut failures = 0u32;
        let mut filled = 0u64;
        while self.cursor() < target {
            let from = self.cursor() + 1;
            let want = (target - from + 1).min(FILL_BATCH) as usize;
            match self.history.batch(self.stream(), from, None, want).await {
                Ok(batch) if !batch.events.is_empty() => {
                    failures = 0;
                    for event in batch.events {
                        let sequence = event.position.sequence;
                        if sequence > target {
                            // Nothing between: the stream no longer holds those sequences.
                            self.skip_to(target);
                            break;
                        }
                        if sequence <= self.cursor() {
                            continue;
                        }
                        if sequence > self.cursor() + 1 {
                            self.skip_to(sequence - 1);
                        }
                        self.accept(Arc::new(event));
                        filled += 1;
                    }
                }
                // Nothing yet: a replica still catching up, or JetStream restarting.
                Ok(_) => failures += 1,
                Err(error) => {
                    failures += 1;
                    if failures == 1 {
                        tracing::warn!(%error, stream = self.stream().as_str(), from, target, "gap fill failed; retrying");
                    }
                }
            }
            if failures > 0 {
                if started.elapsed() > FILL_GIVE_UP {
                    self.skip_to(target);
                    break;
                }
                let backoff = Duration::from_millis(50 * u64::from(failures.min(20)));
                if self.pause(backoff).await.is_none() {
                    return;
                }
            }
        }
        metrics::counter!(m::FEED_GAP_FILLS).increment(1);
        metrics::counter!(m::FEED_FILLED_EVENTS).increment(filled);
        tracing::info!(
            stream = self.stream().as_str(),
            filled,
            up_to = target,
            "filled a gap in live delivery"
        );
    }

    /// Gives up on every sequence up to `to`: they cannot be delivered, so everyone who might
    /// have wanted them is closed with a reconnect hint and resumes (or reloads).
    fn skip_to(&self, to: u64) {
        let from = self.cursor() + 1;
        if to >= from {
            tracing::error!(
                stream = self.stream().as_str(),
                from,
                to,
                "events lost from the stream before they could be delivered; closing connections that may need them"
            );
            metrics::counter!(m::FEED_LOST_EVENTS).increment(to - from + 1);
            self.groups.kick_all(self.stream());
        }
        self.feed.window().reset(to + 1);
        self.groups.set_cursor(self.stream(), to);
    }
}

/// Where the stream's end stands against what the feed delivered.
#[derive(Debug, PartialEq, Eq)]
enum Tail {
    /// The stream lost events the feed had delivered.
    Behind,
    /// The stream holds events the feed has not delivered yet, up to this sequence.
    Ahead(u64),
    /// Nothing to do.
    Level,
}

/// Judges a read of the stream's `last` sequence, sent when the feed had delivered up to
/// `asked_at` and answered when it has delivered up to `cursor`. The read runs beside live
/// delivery, so newer events may arrive live before its answer: only a `last` below what was
/// delivered *before the read was sent* proves the stream went backwards (a message is
/// republished live only after it is stored, so the stream held `asked_at` then). Comparing
/// with the cursor at the answer instead mistook every such race for a lost stream and closed
/// every connection (seen at 19,000 connections and 10,000 events/s).
fn judge_tail(asked_at: u64, cursor: u64, last: u64) -> Tail {
    if last < asked_at {
        Tail::Behind
    } else if last > cursor {
        Tail::Ahead(last)
    } else {
        Tail::Level
    }
}

#[cfg(test)]
mod tail_tests {
    use super::{Tail, judge_tail};

    #[test]
    fn live_events_that_overtake_the_read_are_not_a_stream_going_backwards() {
        // Asked at 185; 186 and 187 came live before the answer, which says 185.
        assert_eq!(judge_tail(185, 187, 185), Tail::Level);
        assert_eq!(judge_tail(185, 186, 186), Tail::Level);
    }

    #[test]
    fn a_stream_behind_what_was_delivered_before_the_read_went_backwards() {
        assert_eq!(judge_tail(186, 186, 185), Tail::Behind);
        assert_eq!(judge_tail(186, 190, 0), Tail::Behind);
    }

    #[test]
    fn a_stream_ahead_of_the_cursor_is_filled_up_to_its_end() {
        assert_eq!(judge_tail(100, 100, 120), Tail::Ahead(120));
        assert_eq!(judge_tail(100, 110, 120), Tail::Ahead(120));
        assert_eq!(judge_tail(0, 0, 0), Tail::Level);
    }
}
