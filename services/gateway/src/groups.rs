//! Groups and NATS fan-out. A group is one or more NATS core subscriptions on the republished
//! live subject space, held once per gateway and reference counted by members: created when the
//! first member joins, dropped with the last. Each incoming event is translated and encoded once,
//! then queued (an `Arc`, no copy) to every member without ever blocking: a member whose queue is
//! full is kicked as a slow consumer so it cannot slow anyone else.

use std::collections::HashMap;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use futures::StreamExt;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::error::GatewayError;
use crate::metrics as m;
use crate::protocol::Position;
use crate::translate::{Audience, Delivery, live_position, translate};

/// A group a connection can be in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum GroupKey {
    /// `customer:<sub>`: the user's own orders.
    Customer(Uuid),
    /// `admin:dashboard`: every order event and stock alert.
    Dashboard,
}

impl GroupKey {
    /// The live subjects the group's subscriptions listen on.
    pub fn live_subjects(self) -> Vec<String> {
        use orderflow_events::subjects;
        match self {
            GroupKey::Customer(id) => vec![subjects::live(&subjects::customer_orders(id))],
            GroupKey::Dashboard => vec![
                subjects::live(subjects::ALL_ORDER_EVENTS),
                subjects::live(subjects::ALL_INVENTORY_EVENTS),
            ],
        }
    }
}

/// What the fan-out needs to reach one connection.
#[derive(Debug, Clone)]
pub struct Member {
    /// The connection's bounded outbound queue.
    pub tx: mpsc::Sender<Arc<Delivery>>,
    /// Set while the connection is in the dashboard group: its customer group then stays quiet,
    /// because the dashboard already carries the same order events.
    pub in_dashboard: Arc<AtomicBool>,
    /// Cancelled when the connection cannot keep up.
    pub slow: CancellationToken,
}

type Members = Arc<RwLock<HashMap<u64, Member>>>;

struct Group {
    members: Members,
    tasks: Vec<JoinHandle<()>>,
}

/// All groups of this gateway.
pub struct Groups {
    client: async_nats::Client,
    groups: tokio::sync::Mutex<HashMap<GroupKey, Group>>,
    encoded: Arc<Mutex<EncodedCache>>,
}

/// The most recently encoded events by position. An order event reaches a gateway once per
/// group subscription that matches it (a customer's and the dashboard's); this makes the second
/// subscription reuse the first one's bytes, so each event is encoded once per gateway.
#[derive(Default)]
pub struct EncodedCache {
    recent: VecDeque<(Position, Option<Arc<Delivery>>)>,
}

/// Positions remembered; far more than can be in flight between two subscriptions.
const ENCODED_CACHE_SIZE: usize = 1024;

impl EncodedCache {
    /// The delivery for `position`, encoding it with `make` only the first time.
    fn get_or_encode(
        &mut self,
        position: Position,
        make: impl FnOnce() -> Option<Arc<Delivery>>,
    ) -> Option<Arc<Delivery>> {
        if let Some((_, d)) = self.recent.iter().rev().find(|(p, _)| *p == position) {
            return d.clone();
        }
        let delivery = make();
        if self.recent.len() == ENCODED_CACHE_SIZE {
            self.recent.pop_front();
        }
        self.recent.push_back((position, delivery.clone()));
        delivery
    }
}

impl Groups {
    /// An empty registry subscribing through `client`.
    pub fn new(client: async_nats::Client) -> Self {
        Self {
            client,
            groups: tokio::sync::Mutex::new(HashMap::new()),
            encoded: Arc::default(),
        }
    }

    /// Adds a member; the group's subscriptions exist when this returns.
    pub async fn join(
        &self,
        key: GroupKey,
        connection: u64,
        member: Member,
    ) -> Result<(), GatewayError> {
        let mut groups = self.groups.lock().await;
        if let Some(group) = groups.get(&key) {
            write(&group.members).insert(connection, member);
            return Ok(());
        }
        let members: Members = Arc::new(RwLock::new(HashMap::from([(connection, member)])));
        let mut tasks = Vec::new();
        for subject in key.live_subjects() {
            let subscriber = match self.client.subscribe(subject).await {
                Ok(s) => s,
                Err(e) => {
                    tasks.iter().for_each(JoinHandle::abort);
                    return Err(GatewayError::Subscribe(e.to_string()));
                }
            };
            tasks.push(tokio::spawn(fan_out(
                key,
                subscriber,
                Arc::clone(&members),
                Arc::clone(&self.encoded),
            )));
        }
        // The caller answers the handshake (or starts a Resume replay) next and relies on live
        // traffic already flowing, so wait until the server has registered the subscriptions.
        // The group enters the map only afterwards: later joiners never see an unconfirmed one.
        if let Err(e) = server_round_trip(&self.client).await {
            tasks.iter().for_each(JoinHandle::abort);
            return Err(e);
        }
        metrics::gauge!(m::NATS_SUBSCRIPTIONS).increment(tasks.len() as f64);
        groups.insert(key, Group { members, tasks });
        metrics::gauge!(m::GROUPS).increment(1.0);
        Ok(())
    }

    /// Removes a member; the last one out drops the group's subscriptions.
    pub async fn leave(&self, key: GroupKey, connection: u64) {
        let mut groups = self.groups.lock().await;
        let Some(group) = groups.get(&key) else {
            return;
        };
        let empty = {
            let mut members = write(&group.members);
            members.remove(&connection);
            members.is_empty()
        };
        if empty && let Some(group) = groups.remove(&key) {
            for task in &group.tasks {
                // Aborting drops the subscriber, which unsubscribes from NATS.
                task.abort();
                metrics::gauge!(m::NATS_SUBSCRIPTIONS).decrement(1.0);
            }
            metrics::gauge!(m::GROUPS).decrement(1.0);
        }
    }

    /// Number of groups with members (for tests and diagnostics).
    pub async fn group_count(&self) -> usize {
        self.groups.lock().await.len()
    }

    /// Number of members of a group.
    pub async fn member_count(&self, key: GroupKey) -> usize {
        self.groups
            .lock()
            .await
            .get(&key)
            .map_or(0, |g| read(&g.members).len())
    }
}

/// How long the server may take to confirm a subscription before the join fails.
const ROUND_TRIP_TIMEOUT: Duration = Duration::from_secs(5);

/// Returns once the NATS server has processed every command this client sent before the call.
///
/// `Client::flush` only empties the local write buffer: the SUB may still sit unread in the
/// server's socket while another client publishes, and that first message would be lost (seen
/// as a flaky test: the first live update after a fresh connect went missing). The server
/// handles one connection's commands in order, so a message published to a private inbox we
/// subscribe to comes back only after everything sent earlier has taken effect.
async fn server_round_trip(client: &async_nats::Client) -> Result<(), GatewayError> {
    let fail = |what: &dyn std::fmt::Display| GatewayError::Subscribe(what.to_string());
    let inbox = client.new_inbox();
    let mut echo = client
        .subscribe(inbox.clone())
        .await
        .map_err(|e| fail(&e))?;
    client
        .publish(inbox, bytes::Bytes::new())
        .await
        .map_err(|e| fail(&e))?;
    match tokio::time::timeout(ROUND_TRIP_TIMEOUT, echo.next()).await {
        Ok(Some(_)) => Ok(()),
        Ok(None) => Err(fail(&"the NATS connection closed")),
        Err(_) => Err(fail(
            &"the NATS server did not confirm the subscription in time",
        )),
    }
}

fn write<T>(lock: &RwLock<T>) -> std::sync::RwLockWriteGuard<'_, T> {
    // A panic while holding the lock cannot leave the map half-updated; keep serving.
    lock.write()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn read<T>(lock: &RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    lock.read()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

async fn fan_out(
    key: GroupKey,
    mut subscriber: async_nats::Subscriber,
    members: Members,
    encoded: Arc<Mutex<EncodedCache>>,
) {
    while let Some(message) = subscriber.next().await {
        let Some(position) = live_position(&message) else {
            tracing::warn!(subject = %message.subject, "live message without stream position skipped");
            continue;
        };
        let delivery = {
            let mut cache = encoded
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            cache.get_or_encode(position, || {
                translate(message.headers.as_ref(), &message.payload, position)
            })
        };
        let Some(delivery) = delivery else {
            continue;
        };
        deliver(key, &delivery, &members);
    }
}

/// Queues one delivery to every member of a group that should get it. Never waits.
fn deliver(key: GroupKey, delivery: &Arc<Delivery>, members: &Members) {
    let for_customer = matches!(key, GroupKey::Customer(_));
    if for_customer && delivery.audience != Audience::CustomerAndDashboard {
        return;
    }
    for member in read(members).values() {
        if for_customer && member.in_dashboard.load(Ordering::Relaxed) {
            continue;
        }
        match member.tx.try_send(Arc::clone(delivery)) {
            Ok(()) => {}
            Err(mpsc::error::TrySendError::Full(_)) => {
                metrics::counter!(m::MESSAGES_DROPPED).increment(1);
                if !member.slow.is_cancelled() {
                    member.slow.cancel();
                    metrics::counter!(m::SLOW_CONSUMER_CLOSES).increment(1);
                }
            }
            // The connection is shutting down and will leave the group.
            Err(mpsc::error::TrySendError::Closed(_)) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::StreamName;
    use std::time::Instant;

    #[test]
    fn an_event_is_encoded_once_and_shared() {
        let mut cache = EncodedCache::default();
        let position = Position {
            stream: StreamName::Orders,
            sequence: 7,
        };
        let mut encodings = 0;
        let mut make = || {
            encodings += 1;
            Some(Arc::new(Delivery {
                position,
                frame: "{}\u{1e}".into(),
                audience: Audience::CustomerAndDashboard,
                received_at: Instant::now(),
            }))
        };
        let first = cache.get_or_encode(position, &mut make).unwrap();
        let second = cache.get_or_encode(position, &mut make).unwrap();
        assert!(
            Arc::ptr_eq(&first, &second),
            "same bytes for both subscriptions"
        );
        assert_eq!(encodings, 1);
        let other = Position {
            stream: StreamName::Inventory,
            sequence: 7,
        };
        assert!(cache.get_or_encode(other, || None).is_none());
        assert!(
            cache
                .get_or_encode(other, || panic!("cached as irrelevant"))
                .is_none()
        );
    }
}
