//! The admin connections that watch presence (`WatchPresence`), and the hub message they get:
//! `PresenceChanged {reset, joined: [{customerId, name}], left: [customerId]}`. A watcher first
//! gets the whole list (the first message with `reset: true`, then more joins if the list is
//! long), then one message per flush interval with changes. Each is encoded once per hub
//! protocol and the same frame goes to every watcher, through a small queue of its own: a
//! watcher that lets it fill up is closed with a reconnect hint, like any slow consumer.

use std::sync::Arc;

use serde::Serialize;
use tokio::sync::mpsc;
use uuid::Uuid;

use super::ledger::{Changes, Name};
use crate::groups::Signal;
use crate::metrics as m;
use crate::protocol::{Frame, Protocol};

/// The client method admins register.
pub const TARGET: &str = "PresenceChanged";

/// Customers per `PresenceChanged` message: a long list goes in several messages (about 40 KiB
/// each), so none is larger than a stateful connection's buffer.
pub const CUSTOMERS_PER_MESSAGE: usize = 500;

/// Presence messages queued per watcher before it counts as a slow consumer. A flush sends one
/// message (more only for a list longer than [`CUSTOMERS_PER_MESSAGE`]), so this is many
/// intervals of a client not reading.
pub const QUEUE: usize = 256;

/// One customer in a hub message.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CustomerEntry<'a> {
    /// The user id (the token's `sub`).
    pub customer_id: String,
    /// The token's `name`; empty when it has none.
    pub name: &'a str,
}

impl<'a> CustomerEntry<'a> {
    /// The entry of `id` called `name`.
    pub fn new(id: Uuid, name: &'a Name) -> Self {
        CustomerEntry {
            customer_id: id.to_string(),
            name,
        }
    }
}

/// The argument of `PresenceChanged`.
#[derive(Debug, Serialize)]
pub struct PresenceChanged<'a> {
    /// Replace the list with `joined` (the first message after `WatchPresence`).
    pub reset: bool,
    /// Customers now connected.
    pub joined: Vec<CustomerEntry<'a>>,
    /// Ids of customers no longer connected.
    pub left: Vec<String>,
}

/// An admin connection watching presence.
pub struct Watcher {
    /// The connection's process-unique key.
    pub key: u64,
    /// Its hub protocol.
    pub protocol: Protocol,
    /// Its presence queue.
    pub tx: mpsc::Sender<Frame>,
    /// Raised when it cannot keep up.
    pub signal: Arc<Signal>,
}

/// `entries` as joins, in messages of at most [`CUSTOMERS_PER_MESSAGE`].
fn joined_messages(entries: &[(Uuid, Name)]) -> Vec<PresenceChanged<'_>> {
    entries
        .chunks(CUSTOMERS_PER_MESSAGE)
        .map(|chunk| PresenceChanged {
            reset: false,
            joined: chunk
                .iter()
                .map(|(id, n)| CustomerEntry::new(*id, n))
                .collect(),
            left: Vec::new(),
        })
        .collect()
}

/// The messages that tell a new watcher who is connected: the first resets its list.
pub fn list_messages(everyone: &[(Uuid, Name)]) -> Vec<PresenceChanged<'_>> {
    let mut messages = joined_messages(everyone);
    match messages.first_mut() {
        Some(first) => first.reset = true,
        None => messages.push(PresenceChanged {
            reset: true,
            joined: Vec::new(),
            left: Vec::new(),
        }),
    }
    messages
}

/// The messages of one flush's changes (none when nothing changed).
pub fn change_messages(changes: &Changes) -> Vec<PresenceChanged<'_>> {
    let mut messages = joined_messages(&changes.joined);
    for chunk in changes.left.chunks(CUSTOMERS_PER_MESSAGE) {
        messages.push(PresenceChanged {
            reset: false,
            joined: Vec::new(),
            left: chunk.iter().map(Uuid::to_string).collect(),
        });
    }
    messages
}

/// Queues `messages` to `watchers`, each encoded once per protocol in use; drops watchers whose
/// connection has ended and kicks those that cannot keep up.
pub fn send_all(watchers: &mut Vec<Watcher>, messages: &[PresenceChanged<'_>]) {
    if messages.is_empty() || watchers.is_empty() {
        return;
    }
    let mut encoded: [Option<Vec<Frame>>; 2] = [None, None];
    watchers.retain(|w| {
        let frames = encoded[w.protocol as usize].get_or_insert_with(|| {
            messages
                .iter()
                .map(|m| w.protocol.invocation(TARGET, m))
                .collect()
        });
        send(w, frames)
    });
}

/// Queues `frames` to one watcher; `false` if it is gone.
pub fn send(watcher: &Watcher, frames: &[Frame]) -> bool {
    for frame in frames {
        match watcher.tx.try_send(frame.clone()) {
            Ok(()) => {}
            Err(mpsc::error::TrySendError::Full(_)) => {
                if !watcher.signal.is_raised() {
                    watcher.signal.raise();
                    metrics::counter!(m::SLOW_CONSUMER_CLOSES).increment(1);
                }
                return true;
            }
            Err(mpsc::error::TrySendError::Closed(_)) => return false,
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(text: &str) -> Name {
        Arc::from(text)
    }

    #[test]
    fn the_list_resets_first_and_comes_in_bounded_messages() {
        let everyone: Vec<(Uuid, Name)> = (0..1200).map(|_| (Uuid::new_v4(), name("C"))).collect();
        let messages = list_messages(&everyone);
        let shape: Vec<(bool, usize)> =
            messages.iter().map(|m| (m.reset, m.joined.len())).collect();
        assert_eq!(shape, [(true, 500), (false, 500), (false, 200)]);
        let empty = list_messages(&[]);
        assert_eq!(empty.len(), 1);
        assert!(empty[0].reset && empty[0].joined.is_empty());
    }

    #[test]
    fn the_hub_message_has_the_documented_shape() {
        let id = Uuid::nil();
        let ada = name("Ada");
        let changes = Changes {
            joined: vec![(id, ada)],
            left: vec![id],
        };
        let frames: Vec<String> = change_messages(&changes)
            .iter()
            .map(|m| {
                Protocol::Json
                    .invocation(TARGET, m)
                    .as_text()
                    .unwrap()
                    .to_owned()
            })
            .collect();
        assert_eq!(
            frames,
            [
                "{\"type\":1,\"target\":\"PresenceChanged\",\"arguments\":[{\"reset\":false,\"joined\":[{\"customerId\":\"00000000-0000-0000-0000-000000000000\",\"name\":\"Ada\"}],\"left\":[]}]}\u{1e}",
                "{\"type\":1,\"target\":\"PresenceChanged\",\"arguments\":[{\"reset\":false,\"joined\":[],\"left\":[\"00000000-0000-0000-0000-000000000000\"]}]}\u{1e}",
            ]
        );
        assert!(change_messages(&Changes::default()).is_empty());
    }

    #[test]
    fn a_full_queue_kicks_the_watcher_and_a_closed_one_is_dropped() {
        let (tx, rx) = mpsc::channel(1);
        let (gone_tx, gone_rx) = mpsc::channel(1);
        drop(gone_rx);
        let mut watchers = vec![
            Watcher {
                key: 1,
                protocol: Protocol::Json,
                tx,
                signal: Arc::default(),
            },
            Watcher {
                key: 2,
                protocol: Protocol::MessagePack,
                tx: gone_tx,
                signal: Arc::default(),
            },
        ];
        let changes = Changes {
            joined: vec![(Uuid::new_v4(), name("A"))],
            left: vec![Uuid::new_v4()],
        };
        send_all(&mut watchers, &change_messages(&changes));
        assert_eq!(watchers.len(), 1);
        assert!(watchers[0].signal.is_raised(), "two messages, room for one");
        drop(rx);
    }
}
