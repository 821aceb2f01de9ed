//! This gateway's copy of every other gateway's connected customers, kept from their presence
//! messages ([`super::wire`]) and folded into the union [`Ledger`] as each changes. Pure logic,
//! driven by the presence task: it says when a copy is out of date (a `seq` skipped, a heartbeat
//! that does not match), so the task asks that gateway for a snapshot, and it forgets a gateway
//! that has sent nothing for three heartbeat intervals, as if all its customers had left.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use uuid::Uuid;

use super::ledger::{Ledger, Name, bounded_name};
use super::wire::{Message, WireCustomer};

/// Heartbeat intervals without a message after which a gateway is forgotten.
pub const EXPIRY_INTERVALS: u32 = 3;

/// A snapshot whose parts are still arriving.
#[derive(Debug)]
struct Assembly {
    seq: u64,
    parts: usize,
    next_part: usize,
    customers: HashMap<Uuid, Name>,
}

/// What this gateway knows of one other gateway.
#[derive(Debug)]
struct Peer {
    /// The last delta or snapshot applied.
    seq: u64,
    /// Whether `customers` is known to be exactly the peer's (no delta missed since a snapshot).
    synced: bool,
    customers: HashMap<Uuid, Name>,
    last_seen: Instant,
    assembly: Option<Assembly>,
    /// When a snapshot was last asked for (asked at most once per heartbeat interval).
    asked_at: Option<Instant>,
    /// Its heartbeat interval, as it says (ours until it says).
    heartbeat: Duration,
}

impl Peer {
    fn new(now: Instant, synced: bool, heartbeat: Duration) -> Peer {
        Peer {
            heartbeat,
            seq: 0,
            synced,
            customers: HashMap::new(),
            last_seen: now,
            assembly: None,
            asked_at: None,
        }
    }

    fn join(&mut self, union: &mut Ledger, (id, name): WireCustomer) {
        let name = bounded_name(&name);
        if self.customers.insert(id, name.clone()).is_none() {
            union.add(id, &name);
        }
    }

    fn leave(&mut self, union: &mut Ledger, id: Uuid) {
        if self.customers.remove(&id).is_some() {
            union.remove(id);
        }
    }

    /// Replaces the customers with a complete snapshot.
    fn replace(&mut self, union: &mut Ledger, customers: HashMap<Uuid, Name>) {
        for id in self.customers.keys() {
            if !customers.contains_key(id) {
                union.remove(*id);
            }
        }
        for (id, name) in &customers {
            if !self.customers.contains_key(id) {
                union.add(*id, name);
            }
        }
        self.customers = customers;
    }

    fn forget(&mut self, union: &mut Ledger) {
        for id in self.customers.keys() {
            union.remove(*id);
        }
        self.customers.clear();
    }
}

/// What the presence task should do after a message.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Reaction {
    /// Ask the sender for its snapshot (our copy is out of date).
    pub ask_snapshot: bool,
    /// Publish our own snapshot (a gateway started and knows nothing yet).
    pub send_snapshot: bool,
}

/// Every other gateway's customers.
#[derive(Debug)]
pub struct Peers {
    peers: HashMap<String, Peer>,
    heartbeat: Duration,
}

impl Peers {
    /// Peers that heartbeat every `heartbeat`.
    pub fn new(heartbeat: Duration) -> Peers {
        Peers {
            peers: HashMap::new(),
            heartbeat,
        }
    }

    /// Gateways known.
    pub fn len(&self) -> usize {
        self.peers.len()
    }

    /// Whether no other gateway is known.
    pub fn is_empty(&self) -> bool {
        self.peers.is_empty()
    }

    /// Applies `message` from gateway `gateway` to its copy and to `union`.
    pub fn receive(
        &mut self,
        gateway: &str,
        message: Message,
        now: Instant,
        union: &mut Ledger,
    ) -> Reaction {
        let mut reaction = Reaction::default();
        if let Message::Hello { interval_ms } = message {
            // A fresh start: nothing connected there yet, and it needs to hear from us.
            if let Some(mut old) = self.peers.remove(gateway) {
                old.forget(union);
            }
            let peer = Peer::new(now, true, interval(interval_ms, self.heartbeat));
            self.peers.insert(gateway.to_owned(), peer);
            reaction.send_snapshot = true;
            return reaction;
        }
        if let Message::Bye = message {
            if let Some(mut old) = self.peers.remove(gateway) {
                old.forget(union);
            }
            return reaction;
        }
        let peer = self
            .peers
            .entry(gateway.to_owned())
            .or_insert_with(|| Peer::new(now, false, self.heartbeat));
        peer.last_seen = now;
        match message {
            Message::Delta { seq, joined, left } => {
                if seq != peer.seq + 1 {
                    peer.synced = false;
                }
                peer.seq = seq;
                // Applied even when out of date: closer to the truth until the snapshot comes.
                for customer in joined {
                    peer.join(union, customer);
                }
                for id in left {
                    peer.leave(union, id);
                }
            }
            Message::Heartbeat {
                seq,
                count,
                interval_ms,
            } => {
                peer.heartbeat = interval(interval_ms, self.heartbeat);
                if seq != peer.seq || count != peer.customers.len() {
                    peer.synced = false;
                }
            }
            Message::Snapshot {
                seq,
                part,
                parts,
                customers,
            } => {
                if part == 0 {
                    peer.assembly = Some(Assembly {
                        seq,
                        parts,
                        next_part: 0,
                        customers: HashMap::with_capacity(customers.len()),
                    });
                }
                match &mut peer.assembly {
                    Some(a) if a.seq == seq && a.parts == parts && a.next_part == part => {
                        a.customers.extend(
                            customers
                                .into_iter()
                                .map(|(id, name)| (id, bounded_name(&name))),
                        );
                        a.next_part += 1;
                    }
                    // A part missing: wait for the next snapshot.
                    _ => peer.assembly = None,
                }
                if peer
                    .assembly
                    .as_ref()
                    .is_some_and(|a| a.next_part == a.parts)
                    && let Some(done) = peer.assembly.take()
                {
                    peer.replace(union, done.customers);
                    peer.seq = done.seq;
                    peer.synced = true;
                }
            }
            Message::Hello { .. } | Message::Bye => {}
        }
        if !peer.synced && peer.assembly.is_none() {
            reaction.ask_snapshot = ask_due(peer, now);
        }
        reaction
    }

    /// Forgets gateways silent for [`EXPIRY_INTERVALS`] of their heartbeats; returns their ids.
    pub fn expire(&mut self, now: Instant, union: &mut Ledger) -> Vec<String> {
        let expired: Vec<String> = self
            .peers
            .iter()
            .filter(|(_, p)| now.duration_since(p.last_seen) > p.heartbeat * EXPIRY_INTERVALS)
            .map(|(id, _)| id.clone())
            .collect();
        for id in &expired {
            if let Some(mut peer) = self.peers.remove(id) {
                peer.forget(union);
            }
        }
        expired
    }

    /// Gateways whose copy is out of date and that are due to be asked (again) for a snapshot.
    pub fn to_ask(&mut self, now: Instant) -> Vec<String> {
        self.peers
            .iter_mut()
            .filter(|(_, p)| !p.synced)
            .filter_map(|(id, p)| ask_due(p, now).then(|| id.clone()))
            .collect()
    }
}

/// A peer's heartbeat interval from its message: bounded, so a bad value can neither keep a dead
/// gateway for ages nor expire a live one at once.
fn interval(interval_ms: u64, ours: Duration) -> Duration {
    if interval_ms == 0 {
        return ours;
    }
    Duration::from_millis(interval_ms).clamp(Duration::from_millis(10), Duration::from_secs(3600))
}

/// Whether to ask `peer` for a snapshot now (at most once per its heartbeat interval); records
/// it.
fn ask_due(peer: &mut Peer, now: Instant) -> bool {
    if peer
        .asked_at
        .is_some_and(|at| now.duration_since(at) < peer.heartbeat)
    {
        return false;
    }
    peer.asked_at = Some(now);
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::presence::wire;

    const BEAT: Duration = Duration::from_secs(5);
    const HELLO: Message = Message::Hello { interval_ms: 5000 };

    fn heartbeat(seq: u64, count: usize) -> Message {
        Message::Heartbeat {
            seq,
            count,
            interval_ms: 5000,
        }
    }

    fn c(id: Uuid, name: &str) -> WireCustomer {
        (id, name.to_owned())
    }

    fn online(union: &Ledger) -> Vec<Uuid> {
        let mut ids: Vec<Uuid> = union.snapshot().into_iter().map(|(id, _)| id).collect();
        ids.sort();
        ids
    }

    #[test]
    fn deltas_in_order_keep_a_copy_in_sync_and_the_union_counts_gateways() {
        let (mut peers, mut union, now) = (Peers::new(BEAT), Ledger::default(), Instant::now());
        let alice = Uuid::new_v4();
        for gw in ["a", "b"] {
            assert!(peers.receive(gw, HELLO, now, &mut union).send_snapshot);
        }
        for gw in ["a", "b"] {
            let delta = Message::Delta {
                seq: 1,
                joined: vec![c(alice, "Alice")],
                left: vec![],
            };
            assert_eq!(
                peers.receive(gw, delta, now, &mut union),
                Reaction::default()
            );
        }
        assert_eq!(
            union.take_changes().joined.len(),
            1,
            "one entry for two gateways"
        );
        let leave = |seq| Message::Delta {
            seq,
            joined: vec![],
            left: vec![alice],
        };
        peers.receive("a", leave(2), now, &mut union);
        assert_eq!(online(&union), vec![alice], "still on gateway b");
        peers.receive("b", leave(2), now, &mut union);
        assert_eq!(union.take_changes().left, vec![alice]);
        let beat = heartbeat(2, 0);
        assert_eq!(
            peers.receive("a", beat, now, &mut union),
            Reaction::default()
        );
    }

    #[test]
    fn a_missed_delta_or_a_wrong_heartbeat_asks_for_a_snapshot_which_repairs_the_copy() {
        let (mut peers, mut union, now) = (Peers::new(BEAT), Ledger::default(), Instant::now());
        let (alice, bob) = (Uuid::new_v4(), Uuid::new_v4());
        peers.receive("a", HELLO, now, &mut union);
        // Delta 1 (Bob joined) was lost.
        let gap = Message::Delta {
            seq: 2,
            joined: vec![c(alice, "Alice")],
            left: vec![],
        };
        assert!(peers.receive("a", gap, now, &mut union).ask_snapshot);
        // Asked once per heartbeat interval, not on every message.
        let beat = heartbeat(2, 2);
        assert!(
            !peers
                .receive("a", beat.clone(), now, &mut union)
                .ask_snapshot
        );
        assert!(
            peers
                .receive("a", beat, now + BEAT, &mut union)
                .ask_snapshot
        );
        for part in wire::snapshot(2, vec![c(alice, "Alice"), c(bob, "Bob")]) {
            peers.receive("a", part, now + BEAT, &mut union);
        }
        assert_eq!(online(&union), {
            let mut v = vec![alice, bob];
            v.sort();
            v
        });
        let beat = heartbeat(2, 2);
        assert_eq!(
            peers.receive("a", beat, now + BEAT, &mut union),
            Reaction::default()
        );
        assert!(peers.to_ask(now + BEAT * 4).is_empty(), "in sync");
    }

    #[test]
    fn a_gateway_first_heard_mid_stream_is_asked_for_its_snapshot() {
        let (mut peers, mut union, now) = (Peers::new(BEAT), Ledger::default(), Instant::now());
        let beat = heartbeat(40, 3);
        assert!(peers.receive("old", beat, now, &mut union).ask_snapshot);
        assert_eq!(peers.to_ask(now + BEAT), vec!["old".to_owned()]);
    }

    #[test]
    fn a_snapshot_with_a_missing_part_is_not_applied() {
        let (mut peers, mut union, now) = (Peers::new(BEAT), Ledger::default(), Instant::now());
        let customers: Vec<WireCustomer> = (0..2500).map(|_| c(Uuid::new_v4(), "C")).collect();
        let parts = wire::snapshot(9, customers);
        peers.receive("a", parts[0].clone(), now, &mut union);
        peers.receive("a", parts[2].clone(), now, &mut union);
        assert!(union.is_empty());
        for part in parts {
            peers.receive("a", part, now, &mut union);
        }
        assert_eq!(union.len(), 2500);
    }

    #[test]
    fn a_silent_gateway_expires_after_three_heartbeats_and_a_draining_one_at_once() {
        let (mut peers, mut union, now) = (Peers::new(BEAT), Ledger::default(), Instant::now());
        let (alice, bob) = (Uuid::new_v4(), Uuid::new_v4());
        for (gw, who) in [("a", alice), ("b", bob)] {
            peers.receive(gw, HELLO, now, &mut union);
            let delta = Message::Delta {
                seq: 1,
                joined: vec![c(who, "X")],
                left: vec![],
            };
            peers.receive(gw, delta, now, &mut union);
        }
        union.take_changes();
        assert!(peers.expire(now + BEAT * 3, &mut union).is_empty());
        let beat = heartbeat(1, 1);
        peers.receive("b", beat, now + BEAT * 3, &mut union);
        assert_eq!(
            peers.expire(now + BEAT * 3 + Duration::from_millis(1), &mut union),
            vec!["a".to_owned()]
        );
        assert_eq!(union.take_changes().left, vec![alice]);
        peers.receive("b", Message::Bye, now + BEAT * 3, &mut union);
        assert_eq!(union.take_changes().left, vec![bob]);
        assert!(peers.is_empty());
    }

    #[test]
    fn each_gateway_expires_by_its_own_heartbeat_interval() {
        let (mut peers, mut union, now) = (Peers::new(BEAT), Ledger::default(), Instant::now());
        let slow = Message::Hello {
            interval_ms: 60_000,
        };
        peers.receive("slow", slow, now, &mut union);
        peers.receive("usual", HELLO, now, &mut union);
        let later = now + BEAT * 4;
        assert_eq!(peers.expire(later, &mut union), vec!["usual".to_owned()]);
        assert!(
            peers.expire(now + Duration::from_secs(181), &mut union) == vec!["slow".to_owned()]
        );
    }
}
