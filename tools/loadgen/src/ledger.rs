//! The ledger of published events and the check of what each client received against it.
//!
//! The publisher records every acknowledged event's customer and stream sequence; a client
//! records every sequence it received, in arrival order. After the run, every event of the
//! client's customer with a sequence above the client's starting position must have arrived
//! exactly once and in increasing order. What did not is counted, never hidden.

use std::collections::HashSet;
use std::ops::AddAssign;

use crate::publish::Acked;

/// Published sequences per customer index.
#[derive(Debug, Default)]
pub struct Ledger {
    by_customer: Vec<Vec<u64>>,
}

impl Ledger {
    /// The ledger of a run with `customers` customers and these acknowledged publishes (in any
    /// order: acknowledgements arrive out of order).
    pub fn new(customers: usize, acked: &[Acked]) -> Ledger {
        let mut by_customer = vec![Vec::new(); customers];
        for a in acked {
            if let Some(list) = by_customer.get_mut(a.customer) {
                list.push(a.sequence);
            }
        }
        for list in &mut by_customer {
            list.sort_unstable();
        }
        Ledger { by_customer }
    }

    /// What a client of `customer` that started at stream position `from` must receive, in
    /// order.
    pub fn expected(&self, customer: usize, from: u64) -> &[u64] {
        let all = self
            .by_customer
            .get(customer)
            .map_or(&[][..], Vec::as_slice);
        &all[all.partition_point(|&s| s <= from)..]
    }

    /// Events published in total.
    pub fn total(&self) -> usize {
        self.by_customer.iter().map(Vec::len).sum()
    }
}

/// What went wrong for one client (or, summed, for many).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Tally {
    /// Expected events that never arrived.
    pub lost: u64,
    /// Arrivals of an event that had arrived before.
    pub duplicated: u64,
    /// First arrivals of an event whose sequence is below one that arrived earlier.
    pub out_of_order: u64,
    /// Arrivals of events that were not expected (another customer's, or at or before the
    /// starting position).
    pub unexpected: u64,
    /// Clients with at least one of the above (1 or 0 for a single client).
    pub clients_affected: u64,
}

impl Tally {
    /// Whether nothing was lost, duplicated, reordered or unexpected.
    pub fn is_clean(&self) -> bool {
        self.lost + self.duplicated + self.out_of_order + self.unexpected == 0
    }
}

impl AddAssign for Tally {
    fn add_assign(&mut self, other: Tally) {
        self.lost += other.lost;
        self.duplicated += other.duplicated;
        self.out_of_order += other.out_of_order;
        self.unexpected += other.unexpected;
        self.clients_affected += other.clients_affected;
    }
}

/// Checks one client's `received` sequences (arrival order) against its `expected` ones
/// (increasing, see [`Ledger::expected`]).
pub fn check(expected: &[u64], received: &[u64]) -> Tally {
    let wanted: HashSet<u64> = expected.iter().copied().collect();
    let mut seen = HashSet::with_capacity(received.len());
    let mut highest = 0u64;
    let mut tally = Tally::default();
    for &seq in received {
        if !seen.insert(seq) {
            tally.duplicated += 1;
            continue;
        }
        if !wanted.contains(&seq) {
            tally.unexpected += 1;
        } else if seq < highest {
            tally.out_of_order += 1;
        }
        highest = highest.max(seq);
    }
    tally.lost = expected.iter().filter(|s| !seen.contains(s)).count() as u64;
    tally.clients_affected = u64::from(!tally.is_clean());
    tally
}

#[cfg(test)]
mod tests {
    use super::*;

    fn acked(customer: usize, sequence: u64) -> Acked {
        Acked { customer, sequence }
    }

    #[test]
    fn expected_events_are_the_customers_after_the_start_in_order() {
        let ledger = Ledger::new(
            2,
            &[
                acked(0, 7),
                acked(1, 3),
                acked(0, 2),
                acked(0, 5),
                acked(9, 1),
            ],
        );
        assert_eq!(ledger.expected(0, 0), &[2, 5, 7]);
        assert_eq!(ledger.expected(0, 2), &[5, 7]);
        assert_eq!(ledger.expected(0, 7), &[] as &[u64]);
        assert_eq!(ledger.expected(1, 0), &[3]);
        assert_eq!(ledger.expected(5, 0), &[] as &[u64]);
        // The publish for an unknown customer index is ignored.
        assert_eq!(ledger.total(), 4);
    }

    #[test]
    fn exactly_once_in_order_is_clean() {
        let tally = check(&[2, 5, 7], &[2, 5, 7]);
        assert!(tally.is_clean());
        assert_eq!(tally, Tally::default());
    }

    #[test]
    fn counts_lost_duplicated_reordered_and_unexpected() {
        // 5 lost; 2 twice; 9 before 7; 4 was never published for this client.
        let tally = check(&[2, 5, 7, 9], &[2, 2, 9, 7, 4]);
        assert_eq!(
            tally,
            Tally {
                lost: 1,
                duplicated: 1,
                out_of_order: 1,
                unexpected: 1,
                clients_affected: 1,
            }
        );
        assert_eq!(check(&[1, 2], &[]).lost, 2);
    }

    #[test]
    fn tallies_add_up() {
        let mut sum = check(&[1], &[]);
        sum += check(&[1], &[1, 1]);
        sum += check(&[1], &[1]);
        assert_eq!((sum.lost, sum.duplicated, sum.clients_affected), (1, 1, 2));
    }
}
