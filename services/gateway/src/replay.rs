//! What a connection missed: the events in `(after, upto]` that its interest wants, from the
//! feed's in-memory window as far back as it reaches, and older ones from the stream with
//! subject-filtered batched direct gets (only this customer's subjects, so a customer who
//! missed `k` events costs `k` reads whatever else happened in the stream). No JetStream
//! consumer is created, so any number of concurrent resumes leaves the server's consumer limit
//! alone.
//!
//! The answer is `Reload` when the stream no longer holds the first missed sequence
//! (retention), or when more than the per-connection cap are missed: replaying a whole history
//! to one browser is worse than reloading its state.

use std::sync::Arc;

use orderflow_events::subjects;

use crate::feed::Feed;
use crate::history::{History, HistoryError};
use crate::metrics as m;
use crate::protocol::{Protocol, StreamName};
use crate::stored::Interest;
use crate::translate::Delivery;

/// Messages read per direct get.
const READ_BATCH: usize = 256;

/// What a resume can send.
#[derive(Debug)]
pub enum Missed {
    /// These events, in stream order (possibly none).
    Events(Vec<Arc<Delivery>>),
    /// Too old or too many: the client must reload that stream's state.
    Reload,
}

/// The stored subjects `interest` may see in `stream`, as a direct-get filter; `Some(None)` is
/// everything, `None` is nothing at all.
fn filter(stream: StreamName, interest: Interest) -> Option<Option<String>> {
    match (stream, interest) {
        (StreamName::Orders, Interest::Dashboard) => Some(None),
        (StreamName::Orders, Interest::Customer(id)) => Some(Some(subjects::customer_orders(id))),
        // Only stock changes can raise the dashboard's alerts.
        (StreamName::Inventory, Interest::Dashboard) => {
            Some(Some(subjects::ALL_STOCK_EVENTS.to_owned()))
        }
        (StreamName::Inventory, Interest::Customer(_)) => None,
    }
}

/// The events of `feed`'s stream in `(after, upto]` that `interest` wants, at most `cap`,
/// encoded in `protocol`.
pub async fn missed(
    feed: &Feed,
    history: &History,
    interest: Interest,
    protocol: Protocol,
    after: u64,
    upto: u64,
    cap: usize,
) -> Result<Missed, HistoryError> {
    let stream = feed.stream();
    let Some(filter) = filter(stream, interest) else {
        return Ok(Missed::Events(Vec::new()));
    };
    if after >= upto {
        return Ok(Missed::Events(Vec::new()));
    }
    let recent = feed.slice(after, upto, interest);
    let mut events = Vec::new();
    if recent.held_from > after + 1 {
        let until = recent.held_from - 1;
        let mut from = after + 1;
        loop {
            let batch = history
                .batch(stream, from, filter.as_deref(), READ_BATCH)
                .await?;
            let Some(last) = batch.events.last().map(|e| e.position.sequence) else {
                break;
            };
            for event in &batch.events {
                if event.position.sequence > until {
                    break;
                }
                if let Some(delivery) = event.wanted_by(interest, protocol) {
                    events.push(Arc::clone(delivery));
                }
            }
            if events.len() > cap {
                return Ok(Missed::Reload);
            }
            if last >= until || batch.pending == 0 {
                break;
            }
            from = last + 1;
        }
        metrics::counter!(m::RESUME_STREAM_READS).increment(events.len() as u64);
        // Retention drops the oldest messages first: if the first missed one is still there
        // now, everything read after it was there while we read.
        if !history.holds(stream, after + 1).await? {
            return Ok(Missed::Reload);
        }
    }
    events.extend(
        recent
            .events
            .iter()
            .filter_map(|e| e.wanted_by(interest, protocol).cloned()),
    );
    if events.len() > cap {
        return Ok(Missed::Reload);
    }
    Ok(Missed::Events(events))
}
