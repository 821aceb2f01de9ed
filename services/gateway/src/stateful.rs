//! Stateful reconnect bookkeeping (docs/signalr-wire.md): numbering of sequenced messages in both
//! directions, the buffer of unacknowledged outbound messages that is replayed after a
//! re-attach, and de-duplication of what the client replays to us.

use std::collections::VecDeque;

use crate::error::GatewayError;
use crate::protocol::Frame;

/// The outbound buffer overflowed: the client stopped acknowledging.
#[derive(Debug, PartialEq, Eq)]
pub struct BufferFull;

/// Both directions of one stateful connection.
#[derive(Debug)]
pub struct MessageBuffer {
    limit_bytes: usize,
    /// Sequenced messages sent so far (the last one has this number).
    total_sent: u64,
    /// Unacknowledged outbound messages, oldest first, with their numbers.
    unacked: VecDeque<(u64, Frame)>,
    unacked_bytes: usize,
    /// Number the next inbound sequenced message will have.
    next_expected: u64,
    /// Highest inbound number processed.
    highest_processed: u64,
    /// Highest inbound number we acknowledged.
    last_acked: u64,
}

impl MessageBuffer {
    /// A fresh buffer holding at most `limit_bytes` of unacknowledged messages.
    pub fn new(limit_bytes: usize) -> Self {
        Self {
            limit_bytes,
            total_sent: 0,
            unacked: VecDeque::new(),
            unacked_bytes: 0,
            next_expected: 1,
            highest_processed: 0,
            last_acked: 0,
        }
    }

    /// Records an outbound sequenced message (cheap: the bytes are shared).
    pub fn push(&mut self, frame: &Frame) -> Result<(), BufferFull> {
        self.total_sent += 1;
        self.unacked_bytes += frame.len();
        self.unacked.push_back((self.total_sent, frame.clone()));
        if self.unacked_bytes > self.limit_bytes {
            Err(BufferFull)
        } else {
            Ok(())
        }
    }

    /// The client received our messages `1..=sequence_id`.
    pub fn ack(&mut self, sequence_id: u64) {
        while let Some((n, frame)) = self.unacked.front() {
            if *n > sequence_id {
                break;
            }
            self.unacked_bytes -= frame.len();
            self.unacked.pop_front();
        }
    }

    /// The Sequence number to send on re-attach, then the messages to resend in order.
    pub fn replay(&self) -> (u64, impl Iterator<Item = &Frame>) {
        let first = self
            .unacked
            .front()
            .map_or(self.total_sent + 1, |(n, _)| *n);
        (first, self.unacked.iter().map(|(_, f)| f))
    }

    /// Counts one inbound sequenced message; `false` means it is a replayed duplicate to drop.
    pub fn accept_inbound(&mut self) -> bool {
        let n = self.next_expected;
        self.next_expected += 1;
        if n > self.highest_processed {
            self.highest_processed = n;
            true
        } else {
            false
        }
    }

    /// The client's Sequence after a re-attach: it resends from `sequence_id`.
    pub fn client_sequence(&mut self, sequence_id: u64) -> Result<(), GatewayError> {
        if sequence_id > self.next_expected {
            return Err(GatewayError::SequenceAhead);
        }
        self.next_expected = sequence_id;
        Ok(())
    }

    /// The Ack to send if something arrived since the last one.
    pub fn take_ack(&mut self) -> Option<u64> {
        (self.highest_processed > self.last_acked).then(|| {
            self.last_acked = self.highest_processed;
            self.highest_processed
        })
    }

    /// Whether an Ack is owed.
    pub fn ack_pending(&self) -> bool {
        self.highest_processed > self.last_acked
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f(s: &str) -> Frame {
        Frame::text(s.to_owned())
    }

    #[test]
    fn replays_unacked_from_the_oldest() {
        let mut b = MessageBuffer::new(1000);
        assert_eq!(b.replay().0, 1, "nothing sent: total + 1");
        for s in ["a", "b", "c"] {
            b.push(&f(s)).unwrap();
        }
        b.ack(2);
        let (first, rest) = b.replay();
        assert_eq!(first, 3);
        assert_eq!(
            rest.map(|x| x.as_text().unwrap().to_owned())
                .collect::<Vec<_>>(),
            vec!["c"]
        );
        b.ack(3);
        assert_eq!(b.replay().0, 4);
    }

    #[test]
    fn overflows_when_the_client_stops_acking() {
        let mut b = MessageBuffer::new(5);
        assert_eq!(b.push(&f("abc")), Ok(()));
        assert_eq!(b.push(&f("abc")), Err(BufferFull));
        b.ack(2);
        assert_eq!(b.push(&f("abc")), Ok(()));
    }

    #[test]
    fn deduplicates_replayed_inbound_messages() {
        // The spec's composed timeline: client #1 processed, then it re-attaches with Sequence 1
        // and replays #1 (duplicate) and #2 (new).
        let mut b = MessageBuffer::new(100);
        assert!(b.accept_inbound());
        assert_eq!(b.take_ack(), Some(1));
        assert_eq!(b.take_ack(), None);
        b.client_sequence(1).unwrap();
        assert!(!b.accept_inbound(), "replayed #1 is dropped");
        assert!(b.accept_inbound(), "#2 is new");
        assert!(b.ack_pending());
        assert!(matches!(
            b.client_sequence(9),
            Err(GatewayError::SequenceAhead)
        ));
    }
}
