//! A connection's outbound delivery state: the queue its groups fill, the batch being written,
//! the groups it is in, the stateful buffer of what the client has not acknowledged, and how far
//! each stream has got. These change together on every delivery, join, leave and resume.

use std::sync::Arc;

use tokio::sync::mpsc;
use uuid::Uuid;

use crate::groups::{Cursors, GroupKey, Groups, Member};
use crate::protocol::Position;
use crate::stateful::MessageBuffer;
use crate::stored::Interest;
use crate::translate::{Audience, Delivery};
use crate::transport::COALESCE_BYTES;

/// Per stream (index `StreamName as usize`), how far this connection has got.
#[derive(Debug, Default, Clone)]
pub struct Progress {
    /// Highest sequence delivered, live or replayed.
    pub delivered: [u64; 2],
    /// Highest sequence a resume has covered; a second resume never repeats it.
    pub resumed_to: [u64; 2],
    /// Live delivery brings everything after these sequences (set by the latest group join).
    pub live_from: Cursors,
}

impl Progress {
    /// Records a delivery; `false` if this position (or a later one) was delivered already.
    pub fn admit(&mut self, position: Position) -> bool {
        let delivered = &mut self.delivered[position.stream as usize];
        if position.sequence <= *delivered {
            return false;
        }
        *delivered = position.sequence;
        true
    }
}

/// What the groups deliver to one connection, and where it stands.
pub struct Outbound {
    /// Live deliveries the groups queued for this connection.
    pub(crate) rx: mpsc::Receiver<Arc<Delivery>>,
    /// The batch being written (kept to reuse its allocation).
    outgoing: Vec<Arc<Delivery>>,
    /// This connection as the groups know it (its queue's sender, its kick signal).
    pub(crate) member: Member,
    /// The groups joined.
    groups: Vec<GroupKey>,
    /// With stateful reconnect: what the client has not acknowledged yet.
    pub(crate) buffer: Option<MessageBuffer>,
    /// How far each stream has got.
    pub(crate) progress: Progress,
    /// With `WatchPresence`: the presence messages for this admin (not events: no position).
    pub(crate) presence: Option<mpsc::Receiver<crate::protocol::Frame>>,
}

impl Outbound {
    /// A connection in no group yet; `buffer` is there when stateful reconnect is on.
    pub(crate) fn new(
        member: Member,
        rx: mpsc::Receiver<Arc<Delivery>>,
        buffer: Option<MessageBuffer>,
    ) -> Outbound {
        Outbound {
            rx,
            outgoing: Vec::new(),
            member,
            groups: Vec::new(),
            buffer,
            progress: Progress::default(),
            presence: None,
        }
    }

    /// Joins groups (in memory; cannot fail). Live delivery for them starts after the cursors
    /// the join returns; anything before is what a resume replays.
    pub(crate) fn join(&mut self, groups: &Groups, keys: &[GroupKey]) {
        let keys: Vec<GroupKey> = keys
            .iter()
            .copied()
            .filter(|k| !self.groups.contains(k))
            .collect();
        if keys.is_empty() {
            return;
        }
        let cursors = groups.join(&keys, &self.member);
        // Stock levels are live only: joining their group moves nothing a resume replays.
        if keys.iter().any(|k| *k != GroupKey::Stock) {
            self.progress.live_from = cursors;
        }
        self.groups.extend(keys);
    }

    /// Leaves a group.
    pub(crate) fn leave(&mut self, groups: &Groups, key: GroupKey) {
        if let Some(i) = self.groups.iter().position(|g| *g == key) {
            self.groups.swap_remove(i);
            groups.leave(key, self.member.key);
        }
    }

    /// Leaves every group (the connection ends).
    pub(crate) fn leave_all(&mut self, groups: &Groups) {
        for key in std::mem::take(&mut self.groups) {
            groups.leave(key, self.member.key);
        }
    }

    /// What a replay for this connection reads: the dashboard's events, or the user's own.
    pub(crate) fn interest(&self, user: Uuid) -> Interest {
        if self.groups.contains(&GroupKey::Dashboard) {
            Interest::Dashboard
        } else {
            Interest::Customer(user)
        }
    }

    /// Whether a queued live delivery still applies (it may have been queued just before a
    /// dashboard leave, or replayed already), recording it as delivered.
    pub(crate) fn admit(&mut self, delivery: &Delivery) -> bool {
        match delivery.audience {
            Audience::Dashboard if !self.groups.contains(&GroupKey::Dashboard) => false,
            // Live-only and position-less for the client: it neither counts as delivered (a
            // dashboard's alert at the same position must still pass) nor is ever replayed.
            Audience::StockWatchers => self.groups.contains(&GroupKey::Stock),
            _ => self.progress.admit(delivery.position),
        }
    }

    /// `first` and whatever else is queued already, up to about [`COALESCE_BYTES`], minus what
    /// no longer applies: one write's worth. Hand the batch back with [`Outbound::recycle`].
    pub(crate) fn take_batch(&mut self, first: Arc<Delivery>) -> Vec<Arc<Delivery>> {
        let mut batch = std::mem::take(&mut self.outgoing);
        let mut bytes = 0;
        let mut next = Some(first);
        while let Some(delivery) = next {
            if self.admit(&delivery) {
                bytes += delivery.frame.len();
                batch.push(delivery);
            }
            next = if bytes < COALESCE_BYTES {
                self.rx.try_recv().ok()
            } else {
                None
            };
        }
        batch
    }

    /// Keeps a written batch's allocation for the next one.
    pub(crate) fn recycle(&mut self, mut batch: Vec<Arc<Delivery>>) {
        batch.clear();
        self.outgoing = batch;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::StreamName;

    #[test]
    fn progress_never_goes_back() {
        let mut p = Progress::default();
        let at = |sequence| Position {
            stream: StreamName::Orders,
            sequence,
        };
        assert!(p.admit(at(5)));
        assert!(!p.admit(at(5)));
        assert!(!p.admit(at(4)));
        assert!(p.admit(at(6)));
    }
}
