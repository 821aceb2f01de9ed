//! The most recent events of one stream, held in memory so that a reconnecting client is
//! usually served without asking NATS anything: in a reconnect storm thousands of clients each
//! missed a few seconds, which this window covers, and the gateway answers all of them from it.
//!
//! The window holds a contiguous run of sequences (the feed only appends the next one), so an
//! event is found by subtraction; an index per customer lists each customer's sequences so that
//! one customer's missed events are found without scanning everyone else's.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use uuid::Uuid;

use crate::stored::{Interest, StoredEvent};

/// A contiguous run of recent events.
pub struct Window {
    events: VecDeque<Arc<StoredEvent>>,
    /// Sequence of `events[0]`; when empty, the sequence the next event will have.
    first: u64,
    capacity: usize,
    /// Every customer's sequences in the window, oldest first (foldhash: see `groups`).
    by_customer: HashMap<Uuid, VecDeque<u64>, foldhash::fast::RandomState>,
}

/// The part of a range the window holds.
pub struct Slice {
    /// The range's events of the interest's customer (all of them for the dashboard), in order;
    /// not yet filtered by what the interest wants, which may need a translation: callers do
    /// that outside the window's lock.
    pub events: Vec<Arc<StoredEvent>>,
    /// The window held every sequence from this one on; anything before must come from the
    /// stream.
    pub held_from: u64,
}

impl Window {
    /// An empty window that will keep at most `capacity` events and expects `next` first.
    pub fn new(capacity: usize, next: u64) -> Self {
        Window {
            events: VecDeque::new(),
            first: next,
            capacity,
            by_customer: HashMap::default(),
        }
    }

    /// Forgets everything; the next event expected is `next`.
    pub fn reset(&mut self, next: u64) {
        self.events.clear();
        self.by_customer.clear();
        self.first = next;
    }

    /// The sequence the next pushed event must have.
    pub fn next(&self) -> u64 {
        self.first + self.events.len() as u64
    }

    /// Appends the next event, dropping the oldest beyond capacity. An event out of sequence
    /// resets the window to start at it (the feed never does that; it keeps the window exact).
    pub fn push(&mut self, event: Arc<StoredEvent>) {
        let sequence = event.position.sequence;
        if sequence != self.next() {
            self.reset(sequence);
        }
        if self.capacity == 0 {
            self.first = sequence + 1;
            return;
        }
        if self.events.len() == self.capacity {
            self.evict_oldest();
        }
        if let Some(customer) = event.customer {
            self.by_customer
                .entry(customer)
                .or_default()
                .push_back(sequence);
        }
        self.events.push_back(event);
    }

    fn evict_oldest(&mut self) {
        let Some(old) = self.events.pop_front() else {
            return;
        };
        self.first += 1;
        if let Some(customer) = old.customer
            && let Some(list) = self.by_customer.get_mut(&customer)
        {
            list.pop_front();
            if list.is_empty() {
                self.by_customer.remove(&customer);
            }
        }
    }

    fn get(&self, sequence: u64) -> Option<&Arc<StoredEvent>> {
        let index = usize::try_from(sequence.checked_sub(self.first)?).ok()?;
        self.events.get(index)
    }

    /// The events in `(after, upto]` of `interest`'s customer (all for the dashboard), as far
    /// back as the window reaches.
    pub fn slice(&self, after: u64, upto: u64, interest: Interest) -> Slice {
        let held_from = self.first.max(after + 1);
        let events = match interest {
            Interest::Customer(id) => match self.by_customer.get(&id) {
                Some(list) => {
                    let start = list.partition_point(|s| *s < held_from);
                    list.range(start..)
                        .take_while(|s| **s <= upto)
                        .filter_map(|s| self.get(*s).cloned())
                        .collect()
                }
                None => Vec::new(),
            },
            Interest::Dashboard => (held_from..=upto)
                .map_while(|s| self.get(s).cloned())
                .collect(),
        };
        Slice { events, held_from }
    }

    /// Events kept at most.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Events held (for the metrics).
    pub fn len(&self) -> usize {
        self.events.len()
    }

    /// Whether nothing is held.
    pub fn is_empty(&self) -> bool {
        self.events.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stored::tests::status_changed;

    fn sequences(slice: &Slice) -> Vec<u64> {
        slice.events.iter().map(|e| e.position.sequence).collect()
    }

    #[test]
    fn finds_one_customers_events_among_everyone_elses() {
        let (alice, bob) = (Uuid::new_v4(), Uuid::new_v4());
        let mut w = Window::new(100, 1);
        for s in 1..=10 {
            let who = if s % 3 == 0 { alice } else { bob };
            w.push(Arc::new(status_changed(who, s)));
        }
        let mine = w.slice(3, 9, Interest::Customer(alice));
        assert_eq!(sequences(&mine), vec![6, 9]);
        assert_eq!(mine.held_from, 4);
        assert_eq!(sequences(&w.slice(0, 10, Interest::Dashboard)).len(), 10);
        assert_eq!(w.slice(0, 10, Interest::Dashboard).held_from, 1);
    }

    #[test]
    fn evicts_the_oldest_and_says_how_far_back_it_reaches() {
        let alice = Uuid::new_v4();
        let mut w = Window::new(4, 11);
        for s in 11..=20 {
            w.push(Arc::new(status_changed(alice, s)));
        }
        assert_eq!(w.len(), 4);
        assert_eq!(w.next(), 21);
        let s = w.slice(12, 20, Interest::Customer(alice));
        assert_eq!(
            s.held_from, 17,
            "13..=16 are gone: read them from the stream"
        );
        assert_eq!(sequences(&s), vec![17, 18, 19, 20]);
        assert_eq!(
            w.by_customer[&alice].len(),
            4,
            "the index shrinks with the window"
        );
    }

    #[test]
    fn an_out_of_sequence_event_restarts_the_window() {
        let alice = Uuid::new_v4();
        let mut w = Window::new(8, 1);
        w.push(Arc::new(status_changed(alice, 1)));
        w.push(Arc::new(status_changed(alice, 5)));
        assert_eq!(w.slice(0, 5, Interest::Dashboard).held_from, 5);
        let mut off = Window::new(0, 1);
        off.push(Arc::new(status_changed(alice, 1)));
        assert!(off.is_empty());
        assert_eq!(off.slice(0, 1, Interest::Dashboard).held_from, 2);
    }
}
