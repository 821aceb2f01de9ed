//! Who is online, counted, with the changes since the last flush coalesced. One [`Ledger`]
//! counts this gateway's connections per customer (two tabs are one entry), another counts, per
//! customer, the gateways that report them (the union an admin sees). Either way a customer joins
//! on 0→1 and leaves on 1→0, and [`Ledger::take_changes`] reports only the net change since the
//! previous call: a leave and a join within one flush interval cancel out, so a reconnect storm
//! produces one batch per interval instead of a message per connection.

use std::collections::HashMap;
use std::sync::Arc;

use uuid::Uuid;

/// A customer's display name (shared: the same name sits in several ledgers and messages).
pub type Name = Arc<str>;

/// Names longer than this are cut: they come from tokens, and every entry is kept in memory and
/// sent to every gateway.
pub const MAX_NAME_CHARS: usize = 100;

/// `name`, cut to [`MAX_NAME_CHARS`].
pub fn bounded_name(name: &str) -> Name {
    match name.char_indices().nth(MAX_NAME_CHARS) {
        Some((cut, _)) => Arc::from(&name[..cut]),
        None => Arc::from(name),
    }
}

#[derive(Debug)]
struct Entry {
    count: u32,
    name: Name,
}

/// The net changes between two flushes.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Changes {
    /// Customers online now who were not at the previous flush.
    pub joined: Vec<(Uuid, Name)>,
    /// Customers online at the previous flush who are not now.
    pub left: Vec<Uuid>,
}

impl Changes {
    /// Whether nothing changed.
    pub fn is_empty(&self) -> bool {
        self.joined.is_empty() && self.left.is_empty()
    }
}

/// Counts per customer, and what changed since the last [`Ledger::take_changes`].
#[derive(Debug, Default)]
pub struct Ledger {
    online: HashMap<Uuid, Entry>,
    /// Customers whose count crossed zero since the last flush, with whether they were online
    /// at that flush. At most one entry per customer, so its size is bounded by the customers,
    /// not by the number of connects.
    dirty: HashMap<Uuid, bool>,
}

impl Ledger {
    /// One more source (connection, gateway) for `customer`.
    pub fn add(&mut self, customer: Uuid, name: &Name) {
        let entry = self.online.entry(customer).or_insert_with(|| Entry {
            count: 0,
            name: Arc::clone(name),
        });
        if entry.count == 0 {
            self.dirty.entry(customer).or_insert(false);
        }
        entry.count += 1;
        // A newer token may carry a newer name.
        if entry.name != *name {
            entry.name = Arc::clone(name);
        }
    }

    /// One source fewer for `customer` (nothing if it had none).
    pub fn remove(&mut self, customer: Uuid) {
        let Some(entry) = self.online.get_mut(&customer) else {
            return;
        };
        entry.count -= 1;
        if entry.count == 0 {
            self.online.remove(&customer);
            self.dirty.entry(customer).or_insert(true);
        }
    }

    /// Whether `customer` is online.
    pub fn contains(&self, customer: Uuid) -> bool {
        self.online.contains_key(&customer)
    }

    /// Customers online.
    pub fn len(&self) -> usize {
        self.online.len()
    }

    /// Whether no one is online.
    pub fn is_empty(&self) -> bool {
        self.online.is_empty()
    }

    /// Everyone online, with their names.
    pub fn snapshot(&self) -> Vec<(Uuid, Name)> {
        self.online
            .iter()
            .map(|(id, e)| (*id, Arc::clone(&e.name)))
            .collect()
    }

    /// The net changes since the previous call.
    pub fn take_changes(&mut self) -> Changes {
        let mut changes = Changes::default();
        for (customer, was_online) in self.dirty.drain() {
            match (was_online, self.online.get(&customer)) {
                (false, Some(entry)) => changes.joined.push((customer, Arc::clone(&entry.name))),
                (true, None) => changes.left.push(customer),
                // Left and came back, or came and left, within the interval.
                _ => {}
            }
        }
        changes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(text: &str) -> Name {
        Arc::from(text)
    }

    #[test]
    fn two_tabs_are_one_entry_joining_once_and_leaving_once() {
        let mut ledger = Ledger::default();
        let alice = Uuid::new_v4();
        ledger.add(alice, &name("Alice"));
        ledger.add(alice, &name("Alice"));
        assert_eq!(
            ledger.take_changes(),
            Changes {
                joined: vec![(alice, name("Alice"))],
                left: vec![]
            }
        );
        ledger.remove(alice);
        assert!(ledger.take_changes().is_empty(), "one tab is still open");
        assert!(ledger.contains(alice));
        ledger.remove(alice);
        assert_eq!(
            ledger.take_changes(),
            Changes {
                joined: vec![],
                left: vec![alice]
            }
        );
        assert!(ledger.is_empty());
    }

    #[test]
    fn a_leave_and_a_join_within_one_interval_cancel_out() {
        let mut ledger = Ledger::default();
        let (alice, bob) = (Uuid::new_v4(), Uuid::new_v4());
        ledger.add(alice, &name("Alice"));
        ledger.take_changes();
        // Alice reconnects a thousand times, Bob comes and goes: nothing to tell anyone.
        for _ in 0..1000 {
            ledger.remove(alice);
            ledger.add(alice, &name("Alice"));
            ledger.add(bob, &name("Bob"));
            ledger.remove(bob);
        }
        assert!(ledger.take_changes().is_empty());
        assert_eq!(ledger.snapshot(), vec![(alice, name("Alice"))]);
    }

    #[test]
    fn a_storm_of_distinct_customers_is_one_batch() {
        let mut ledger = Ledger::default();
        let customers: Vec<Uuid> = (0..10_000).map(|_| Uuid::new_v4()).collect();
        for c in &customers {
            ledger.add(*c, &name("C"));
        }
        let changes = ledger.take_changes();
        assert_eq!(changes.joined.len(), 10_000);
        assert!(changes.left.is_empty());
        assert!(ledger.take_changes().is_empty(), "reported once");
    }

    #[test]
    fn removing_someone_never_added_changes_nothing() {
        let mut ledger = Ledger::default();
        ledger.remove(Uuid::new_v4());
        assert!(ledger.take_changes().is_empty());
    }

    #[test]
    fn long_names_are_cut_on_a_character_boundary() {
        let long = "é".repeat(150);
        assert_eq!(bounded_name(&long).chars().count(), MAX_NAME_CHARS);
        assert_eq!(&*bounded_name("Ada"), "Ada");
    }
}
