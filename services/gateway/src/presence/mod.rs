//! Presence: which customers are connected now, across every gateway, for the admin dashboard.
//!
//! Each gateway counts its own connections per customer ([`ledger`]: two tabs are one entry).
//! Once per flush interval (`GATEWAY_PRESENCE_FLUSH`) the presence task ([`task`]) publishes the
//! net joins and leaves of that interval on core NATS ([`wire`]), and every gateway folds its
//! peers' messages into a union ([`peers`]): a customer is online while any gateway reports
//! them. Admin connections that called `WatchPresence` get the list, then the union's net changes
//! once per flush interval ([`watchers`]). A reconnect storm of any size is therefore a handful
//! of messages per interval, on NATS and to every admin. Heartbeats
//! (`GATEWAY_PRESENCE_HEARTBEAT`) let peers notice a missed delta (they ask for a snapshot) and
//! forget a gateway that went silent for three intervals.
//!
//! Customers are users without the Admin role; admins are never listed. Nothing here is on the
//! delivery path: a connection touches presence when it opens and when it ends, and the admins'
//! messages have their own queue.

pub mod ledger;
pub mod peers;
pub mod task;
pub mod watchers;
pub mod wire;

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use tokio::sync::mpsc;
use uuid::Uuid;

use crate::groups::Signal;
use crate::protocol::{Frame, Protocol};
use ledger::{Changes, Ledger, Name, bounded_name};
use peers::Peers;
use watchers::Watcher;

/// This gateway's own connections.
#[derive(Default)]
struct Local {
    ledger: Ledger,
    /// The last delta published (a snapshot is as of it).
    seq: u64,
}

/// The union of all gateways and who watches it.
struct View {
    /// Per customer, the gateways (this one included) that report them.
    union: Ledger,
    peers: Peers,
    watchers: Vec<Watcher>,
}

/// Presence state shared by the connections and the presence task.
pub struct Presence {
    /// This gateway's id in presence subjects: random per process, so a restarted gateway is a
    /// new one and its predecessor's entries expire or were said goodbye to.
    id: String,
    /// `GATEWAY_PRESENCE_HEARTBEAT`, told to peers.
    heartbeat: Duration,
    local: Mutex<Local>,
    view: Mutex<View>,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Presence {
    /// Presence for a gateway whose peers heartbeat every `heartbeat`.
    pub fn new(heartbeat: Duration) -> Presence {
        Presence {
            id: Uuid::new_v4().simple().to_string(),
            heartbeat,
            local: Mutex::default(),
            view: Mutex::new(View {
                union: Ledger::default(),
                peers: Peers::new(heartbeat),
                watchers: Vec::new(),
            }),
        }
    }

    /// The hello this gateway starts with.
    fn hello(&self) -> wire::Message {
        wire::Message::Hello {
            interval_ms: millis(self.heartbeat),
        }
    }

    /// This gateway's presence id (`presence.v1.<id>`).
    pub fn gateway_id(&self) -> &str {
        &self.id
    }

    /// A customer's connection opened here.
    pub fn connected(&self, customer: Uuid, name: &str) {
        lock(&self.local).ledger.add(customer, &bounded_name(name));
    }

    /// A customer's connection here ended.
    pub fn disconnected(&self, customer: Uuid) {
        lock(&self.local).ledger.remove(customer);
    }

    /// Everyone connected to any gateway, as of the last flush (`GetPresence`).
    pub fn list(&self) -> Vec<(Uuid, Name)> {
        lock(&self.view).union.snapshot()
    }

    /// Makes connection `key` a watcher: its queue gets the current list, then every change.
    /// Watching again restarts with a fresh list.
    pub fn watch(
        &self,
        key: u64,
        protocol: Protocol,
        signal: Arc<Signal>,
    ) -> mpsc::Receiver<Frame> {
        let (tx, rx) = mpsc::channel(watchers::QUEUE);
        let watcher = Watcher {
            key,
            protocol,
            tx,
            signal,
        };
        // Under the lock that flushes take: the list and the changes after it reach the queue
        // in order, with nothing missed or repeated.
        let mut view = lock(&self.view);
        let everyone = view.union.snapshot();
        let frames: Vec<Frame> = watchers::list_messages(&everyone)
            .iter()
            .map(|m| protocol.invocation(watchers::TARGET, m))
            .collect();
        watchers::send(&watcher, &frames);
        view.watchers.retain(|w| w.key != key);
        view.watchers.push(watcher);
        rx
    }

    /// Connection `key` stops watching (also when it ends).
    pub fn unwatch(&self, key: u64) {
        lock(&self.view).watchers.retain(|w| w.key != key);
    }

    /// Admin connections watching.
    pub fn watcher_count(&self) -> usize {
        lock(&self.view).watchers.len()
    }

    /// Takes this gateway's net changes since the last flush and numbers them: the delta to
    /// publish (none if nothing changed), then, if asked, a snapshot and a heartbeat, all as of
    /// that delta (taken under one lock, so a heartbeat's count is exactly what the deltas add
    /// up to). The changes count in the union at once.
    fn flush_local(&self, snapshot: bool, heartbeat: bool) -> Vec<wire::Message> {
        let mut out = Vec::new();
        let changes = {
            let mut local = lock(&self.local);
            let changes = local.ledger.take_changes();
            if !changes.is_empty() {
                local.seq += 1;
                out.push(wire::Message::Delta {
                    seq: local.seq,
                    joined: wire_customers(&changes.joined),
                    left: changes.left.clone(),
                });
            }
            if snapshot {
                out.extend(wire::snapshot(
                    local.seq,
                    wire_customers(&local.ledger.snapshot()),
                ));
            }
            if heartbeat {
                out.push(wire::Message::Heartbeat {
                    seq: local.seq,
                    count: local.ledger.len(),
                    interval_ms: millis(self.heartbeat),
                });
            }
            changes
        };
        if !changes.is_empty() {
            let mut view = lock(&self.view);
            let Changes { joined, left } = &changes;
            for (id, name) in joined {
                view.union.add(*id, name);
            }
            for id in left {
                view.union.remove(*id);
            }
        }
        out
    }

    /// Applies a peer's message to the union.
    fn receive(&self, gateway: &str, message: wire::Message, now: Instant) -> peers::Reaction {
        let mut view = lock(&self.view);
        let View { union, peers, .. } = &mut *view;
        peers.receive(gateway, message, now, union)
    }

    /// Forgets silent peers; the peers still to be asked for a snapshot.
    fn expire_and_ask(&self, now: Instant) -> Vec<String> {
        let mut view = lock(&self.view);
        let View { union, peers, .. } = &mut *view;
        for gone in peers.expire(now, union) {
            tracing::info!(gateway = %gone, "presence: gateway silent for three heartbeats; its customers are offline");
        }
        peers.to_ask(now)
    }

    /// Sends the union's net changes since the last call to every watcher.
    fn notify_watchers(&self) {
        let mut view = lock(&self.view);
        metrics::gauge!(crate::metrics::PRESENCE_CUSTOMERS).set(view.union.len() as f64);
        metrics::gauge!(crate::metrics::PRESENCE_PEERS).set(view.peers.len() as f64);
        let changes = view.union.take_changes();
        if changes.is_empty() {
            return;
        }
        let messages = watchers::change_messages(&changes);
        watchers::send_all(&mut view.watchers, &messages);
    }
}

fn wire_customers(customers: &[(Uuid, Name)]) -> Vec<wire::WireCustomer> {
    customers
        .iter()
        .map(|(id, name)| (*id, name.to_string()))
        .collect()
}

fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}
