//! Groups and fan-out. A group is an in-memory list of member connections: `customer:<sub>`
//! for one customer's order updates, `admin:dashboard` for everything the dashboard shows,
//! `stock:watchers` for connections that asked for live stock levels (`WatchStock`, an open
//! order form), so stock changes reach only those who opted in.
//! Joining and leaving never touch the network, so a reconnect storm costs no NATS round trips.
//!
//! Each stream's feed hands every event, in stream order, to [`Groups::fan_out`], which queues
//! the shared encoded message to every member that wants it without ever waiting: a member
//! whose queue is full is kicked as a slow consumer so it cannot slow anyone else down. The
//! feed records how far it has fanned out (the stream's cursor) under the same lock a join
//! takes, so a joining connection learns exactly from which sequence on it receives everything
//! live: what came before is what a resume replays.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};

use std::task::{Context, Poll};

use futures::task::AtomicWaker;
use tokio::sync::mpsc;
use uuid::Uuid;

use crate::metrics as m;
use crate::protocol::{Protocol, StreamName};
use crate::stored::{Interest, StoredEvent};
use crate::translate::Delivery;

/// A group a connection can be in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum GroupKey {
    /// `customer:<sub>`: the user's own orders.
    Customer(Uuid),
    /// `admin:dashboard`: every order event and stock alert.
    Dashboard,
    /// `stock:watchers`: every stock level change, live only.
    Stock,
}

/// What the fan-out needs to reach one connection.
#[derive(Debug, Clone)]
pub struct Member {
    /// The connection's process-unique key.
    pub key: u64,
    /// The connection's bounded outbound queue.
    pub tx: mpsc::Sender<Arc<Delivery>>,
    /// The hub protocol its deliveries are encoded in.
    pub protocol: Protocol,
    /// Set while the connection is in the dashboard group: its customer group then stays quiet,
    /// because the dashboard already carries the same order events.
    pub in_dashboard: Arc<AtomicBool>,
    /// Raised when the connection must go: it cannot keep up, events it should have had are
    /// gone from the stream, or the gateway drains. It closes with a hint to reconnect.
    pub signal: Arc<Signal>,
}

/// Wakes a connection's task to make it look at why (kicked, draining). The task polls it on
/// every turn of its loop, so polling must be cheap: an atomic swap of the waker, where a
/// cancellation token takes two mutexes (one of them shared by every connection for the drain
/// token), which showed in the profile under load.
#[derive(Debug, Default)]
pub struct Signal {
    raised: AtomicBool,
    waker: AtomicWaker,
}

impl Signal {
    /// Raises the signal and wakes the connection's task.
    pub fn raise(&self) {
        self.raised.store(true, Ordering::Release);
        self.waker.wake();
    }

    /// Whether it was raised.
    pub fn is_raised(&self) -> bool {
        self.raised.load(Ordering::Acquire)
    }

    /// Ready once raised; otherwise the task is woken when it is.
    pub fn poll_raised(&self, cx: &mut Context<'_>) -> Poll<()> {
        self.waker.register(cx.waker());
        if self.is_raised() {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    }
}

#[derive(Default)]
struct Tables {
    /// Keyed with foldhash: SipHash showed in the profile; foldhash is seeded per process, so
    /// keys chosen against it cannot be precomputed.
    customers: HashMap<Uuid, Vec<Member>, foldhash::fast::RandomState>,
    dashboard: Vec<Member>,
    stock: Vec<Member>,
}

/// Stream sequences per stream, indexed by `StreamName as usize`.
pub type Cursors = [u64; 2];

/// All groups of this gateway.
#[derive(Default)]
pub struct Groups {
    tables: RwLock<Tables>,
    /// Per stream, the last sequence fanned out. Written by the stream's feed while it holds the
    /// read lock, read by joins under the write lock: the two never interleave.
    cursors: [AtomicU64; 2],
}

impl Groups {
    fn read(&self) -> RwLockReadGuard<'_, Tables> {
        // A panic while holding the lock cannot leave the tables half-updated; keep serving.
        self.tables
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn write(&self) -> RwLockWriteGuard<'_, Tables> {
        self.tables
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Adds `member` to `keys`; returns, per stream, the last sequence fanned out before it
    /// joined. Every later event its groups want reaches its queue.
    pub fn join(&self, keys: &[GroupKey], member: &Member) -> Cursors {
        let mut tables = self.write();
        for key in keys {
            let list = match key {
                GroupKey::Customer(id) => tables.customers.entry(*id).or_default(),
                GroupKey::Dashboard => {
                    member.in_dashboard.store(true, Ordering::Release);
                    &mut tables.dashboard
                }
                GroupKey::Stock => &mut tables.stock,
            };
            if !list.iter().any(|m| m.key == member.key) {
                list.push(member.clone());
            }
        }
        metrics::gauge!(m::GROUPS).set(group_count(&tables) as f64);
        self.cursors()
    }

    /// The last sequence fanned out per stream.
    pub fn cursors(&self) -> Cursors {
        [
            self.cursors[0].load(Ordering::Acquire),
            self.cursors[1].load(Ordering::Acquire),
        ]
    }

    /// Removes connection `key` from group `group`.
    pub fn leave(&self, group: GroupKey, key: u64) {
        let mut tables = self.write();
        match group {
            GroupKey::Customer(id) => {
                if let Some(list) = tables.customers.get_mut(&id) {
                    list.retain(|m| m.key != key);
                    if list.is_empty() {
                        tables.customers.remove(&id);
                    }
                }
            }
            GroupKey::Dashboard => {
                tables.dashboard.retain(|m| {
                    let leaving = m.key == key;
                    if leaving {
                        m.in_dashboard.store(false, Ordering::Release);
                    }
                    !leaving
                });
            }
            GroupKey::Stock => tables.stock.retain(|m| m.key != key),
        }
        metrics::gauge!(m::GROUPS).set(group_count(&tables) as f64);
    }

    /// Queues `event` to every member that wants it and records it as fanned out. Never waits.
    /// Called by the stream's feed only, once per sequence, in order.
    pub fn fan_out(&self, event: &StoredEvent) {
        let tables = self.read();
        let stream = event.position.stream;
        if let Some(customer) = event.customer
            && let Some(members) = tables.customers.get(&customer)
        {
            for member in members {
                if !member.in_dashboard.load(Ordering::Acquire)
                    && let Some(delivery) =
                        event.wanted_by(Interest::Customer(customer), member.protocol)
                {
                    offer(member, delivery);
                }
            }
        }
        for member in &tables.dashboard {
            if let Some(delivery) = event.wanted_by(Interest::Dashboard, member.protocol) {
                offer(member, delivery);
            }
        }
        if stream == StreamName::Inventory {
            for member in &tables.stock {
                if let Some(delivery) = event.stock_level(member.protocol) {
                    offer(member, delivery);
                }
            }
        }
        self.cursors[stream as usize].store(event.position.sequence, Ordering::Release);
    }

    /// Moves a stream's cursor without an event (the feed's start, or a range it had to skip).
    pub fn set_cursor(&self, stream: StreamName, sequence: u64) {
        let _tables = self.read();
        self.cursors[stream as usize].store(sequence, Ordering::Release);
    }

    /// Kicks every member that may want events of `stream` (after events were lost for good).
    pub fn kick_all(&self, stream: StreamName) {
        let tables = self.read();
        let customers = tables.customers.values().flatten();
        let everyone: Box<dyn Iterator<Item = &Member>> = match stream {
            StreamName::Orders => Box::new(customers.chain(tables.dashboard.iter())),
            StreamName::Inventory => Box::new(tables.dashboard.iter()),
        };
        for member in everyone {
            member.signal.raise();
        }
    }

    /// Wakes every member (the gateway drains: they see it and close with a reconnect hint).
    pub fn raise_all(&self) {
        let tables = self.read();
        let everyone = tables.customers.values().flatten();
        for member in everyone.chain(&tables.dashboard).chain(&tables.stock) {
            member.signal.raise();
        }
    }

    /// Number of groups with members (for tests and diagnostics).
    pub fn group_count(&self) -> usize {
        group_count(&self.read())
    }

    /// Number of members of a group.
    pub fn member_count(&self, key: GroupKey) -> usize {
        let tables = self.read();
        match key {
            GroupKey::Customer(id) => tables.customers.get(&id).map_or(0, Vec::len),
            GroupKey::Dashboard => tables.dashboard.len(),
            GroupKey::Stock => tables.stock.len(),
        }
    }
}

fn group_count(tables: &Tables) -> usize {
    tables.customers.len()
        + usize::from(!tables.dashboard.is_empty())
        + usize::from(!tables.stock.is_empty())
}

fn offer(member: &Member, delivery: &Arc<Delivery>) {
    match member.tx.try_send(Arc::clone(delivery)) {
        Ok(()) => {}
        Err(mpsc::error::TrySendError::Full(_)) => {
            metrics::counter!(m::MESSAGES_DROPPED).increment(1);
            if !member.signal.is_raised() {
                member.signal.raise();
                metrics::counter!(m::SLOW_CONSUMER_CLOSES).increment(1);
            }
        }
        // The connection is shutting down and will leave its groups.
        Err(mpsc::error::TrySendError::Closed(_)) => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stored::tests::{status_changed, stock_changed};
    use crate::translate::Audience;

    fn member(key: u64, capacity: usize) -> (Member, mpsc::Receiver<Arc<Delivery>>) {
        let (tx, rx) = mpsc::channel(capacity);
        let m = Member {
            key,
            tx,
            protocol: Protocol::Json,
            in_dashboard: Arc::default(),
            signal: Arc::default(),
        };
        (m, rx)
    }

    #[test]
    fn a_join_learns_where_live_delivery_starts_for_it() {
        let groups = Groups::default();
        let alice = Uuid::new_v4();
        groups.fan_out(&status_changed(alice, 1));
        let (a, mut rx) = member(1, 8);
        assert_eq!(groups.join(&[GroupKey::Customer(alice)], &a), [1, 0]);
        groups.fan_out(&status_changed(alice, 2));
        groups.fan_out(&status_changed(Uuid::new_v4(), 3));
        assert_eq!(rx.try_recv().unwrap().position.sequence, 2);
        assert!(rx.try_recv().is_err(), "someone else's event");
        assert_eq!(groups.cursors(), [3, 0]);
    }

    #[test]
    fn dashboard_members_get_each_order_event_once() {
        let groups = Groups::default();
        let admin = Uuid::new_v4();
        let (a, mut rx) = member(1, 8);
        groups.join(&[GroupKey::Customer(admin), GroupKey::Dashboard], &a);
        groups.fan_out(&status_changed(admin, 1));
        groups.fan_out(&status_changed(Uuid::new_v4(), 2));
        let got: Vec<u64> = std::iter::from_fn(|| rx.try_recv().ok())
            .map(|d| d.position.sequence)
            .collect();
        assert_eq!(got, vec![1, 2]);
        groups.leave(GroupKey::Dashboard, 1);
        assert_eq!(groups.group_count(), 1);
        groups.leave(GroupKey::Customer(admin), 1);
        assert_eq!(groups.group_count(), 0);
    }

    #[test]
    fn a_full_queue_kicks_only_that_member() {
        let groups = Groups::default();
        let alice = Uuid::new_v4();
        let (slow, _slow_rx) = member(1, 1);
        let (fast, mut fast_rx) = member(2, 8);
        groups.join(&[GroupKey::Customer(alice)], &slow);
        groups.join(&[GroupKey::Customer(alice)], &fast);
        groups.fan_out(&status_changed(alice, 1));
        groups.fan_out(&status_changed(alice, 2));
        assert!(slow.signal.is_raised());
        assert!(!fast.signal.is_raised());
        assert_eq!(fast_rx.try_recv().unwrap().position.sequence, 1);
        assert_eq!(fast_rx.try_recv().unwrap().position.sequence, 2);
    }

    #[test]
    fn stock_levels_reach_only_watchers() {
        let groups = Groups::default();
        let (watcher, mut watcher_rx) = member(1, 8);
        let (customer, mut customer_rx) = member(2, 8);
        let (admin, mut admin_rx) = member(3, 8);
        groups.join(
            &[GroupKey::Customer(Uuid::new_v4()), GroupKey::Stock],
            &watcher,
        );
        groups.join(&[GroupKey::Customer(Uuid::new_v4())], &customer);
        groups.join(&[GroupKey::Dashboard], &admin);
        assert_eq!(groups.member_count(GroupKey::Stock), 1);
        groups.fan_out(&stock_changed("KB-1", 2, 9, 1)); // a restock: no alert
        groups.fan_out(&stock_changed("KB-1", 9, 3, 2)); // crosses the threshold
        let got: Vec<Audience> = std::iter::from_fn(|| watcher_rx.try_recv().ok())
            .map(|d| d.audience)
            .collect();
        assert_eq!(got, [Audience::StockWatchers, Audience::StockWatchers]);
        assert!(customer_rx.try_recv().is_err(), "not opted in");
        assert_eq!(admin_rx.try_recv().unwrap().audience, Audience::Dashboard);
        assert!(
            admin_rx.try_recv().is_err(),
            "the dashboard gets the alert only"
        );
        groups.leave(GroupKey::Stock, 1);
        groups.fan_out(&stock_changed("KB-1", 3, 1, 3));
        assert!(watcher_rx.try_recv().is_err(), "left");
        assert_eq!(groups.cursors(), [0, 3]);
    }
}
