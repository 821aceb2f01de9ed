//! The connections this gateway holds, by public connection id, and the per-user count. A
//! stateful connection whose socket dropped is found here when its client re-attaches; a
//! connection that ended leaves a tombstone until its token expires, so the token cannot open
//! another connection on this gateway (docs/signalr-wire.md: after Close the token is invalid).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};

use axum::extract::ws::WebSocket;
use orderflow_auth::Principal;
use tokio::sync::mpsc;
use uuid::Uuid;

/// A socket handed to its logical connection after an authenticated re-attach.
pub struct Attach {
    /// The upgraded socket.
    pub socket: WebSocket,
    /// Who opened it (same user as the connection, checked before the upgrade).
    pub principal: Principal,
}

/// Sockets for one connection. Boxed because a channel allocates its slots 32 at a time and an
/// unboxed `Attach` would make that 14 KiB for every connection; boxed it is 256 bytes.
pub type AttachSender = mpsc::Sender<Box<Attach>>;
/// The receiving end of an [`AttachSender`].
pub type AttachReceiver = mpsc::Receiver<Box<Attach>>;

/// What the upgrade handler needs to find and feed a connection.
pub struct ConnectionHandle {
    /// The user the connection belongs to.
    pub user_id: Uuid,
    /// Delivers re-attached sockets; set when the handshake switched stateful reconnect on
    /// (only then is a second socket accepted). Made lazily: most connections never need it,
    /// and a channel costs half a KiB.
    pub attach: OnceLock<AttachSender>,
    /// The HTTP handlers' ends of a Server-Sent Events or long-polling connection.
    pub http: Option<Arc<crate::http_ends::HttpEnds>>,
}

/// Why a connection could not be registered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    /// The user already has the maximum number of connections.
    TooMany,
    /// The id is in use or its connection ended (a token is good for one connection).
    Taken,
}

#[derive(Default)]
struct Inner {
    live: HashMap<String, Arc<ConnectionHandle>>,
    /// Ended connections' ids, with the Unix second their token expires.
    ended: HashMap<String, u64>,
    per_user: HashMap<Uuid, usize>,
}

/// All connections of this gateway.
#[derive(Default)]
pub struct Registry {
    inner: Mutex<Inner>,
}

impl Registry {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Registers connection `id` unless the user already has `cap` connections or the id was
    /// used before. `now` (Unix seconds) prunes expired tombstones.
    pub fn insert(
        &self,
        id: &str,
        handle: Arc<ConnectionHandle>,
        cap: usize,
        now: u64,
    ) -> Result<(), Refused> {
        let mut inner = self.lock();
        if inner.ended.len() > 1024 {
            inner.ended.retain(|_, expires| *expires >= now);
        }
        if inner.live.contains_key(id) || inner.ended.contains_key(id) {
            return Err(Refused::Taken);
        }
        let count = inner.per_user.entry(handle.user_id).or_default();
        if *count >= cap {
            return Err(Refused::TooMany);
        }
        *count += 1;
        inner.live.insert(id.to_owned(), handle);
        Ok(())
    }

    /// Connections `user` holds on this gateway.
    pub fn count_for(&self, user: Uuid) -> usize {
        self.lock().per_user.get(&user).copied().unwrap_or(0)
    }

    /// The live connection `id`, if this gateway holds it.
    pub fn get(&self, id: &str) -> Option<Arc<ConnectionHandle>> {
        self.lock().live.get(id).cloned()
    }

    /// Whether `id` was used by a connection that has ended.
    pub fn has_ended(&self, id: &str) -> bool {
        self.lock().ended.contains_key(id)
    }

    /// Forgets a connection: its id stays unusable until `token_expires_at`.
    pub fn remove(&self, id: &str, user_id: Uuid, token_expires_at: u64) {
        let mut inner = self.lock();
        if inner.live.remove(id).is_none() {
            return;
        }
        inner.ended.insert(id.to_owned(), token_expires_at);
        if let Some(count) = inner.per_user.get_mut(&user_id) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                inner.per_user.remove(&user_id);
            }
        }
    }

    /// Connections currently held.
    pub fn len(&self) -> usize {
        self.lock().live.len()
    }

    /// Whether no connection is open.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn handle(user: Uuid) -> Arc<ConnectionHandle> {
        Arc::new(ConnectionHandle {
            user_id: user,
            attach: OnceLock::new(),
            http: None,
        })
    }

    #[test]
    fn caps_per_user_and_never_reuses_an_id() {
        let registry = Registry::default();
        let alice = Uuid::new_v4();
        assert_eq!(registry.insert("a", handle(alice), 2, 0), Ok(()));
        assert_eq!(
            registry.insert("a", handle(alice), 2, 0),
            Err(Refused::Taken)
        );
        assert_eq!(registry.insert("b", handle(alice), 2, 0), Ok(()));
        assert_eq!(
            registry.insert("c", handle(alice), 2, 0),
            Err(Refused::TooMany)
        );
        registry.remove("a", alice, 100);
        assert!(registry.has_ended("a"));
        assert_eq!(
            registry.insert("a", handle(alice), 2, 0),
            Err(Refused::Taken)
        );
        assert_eq!(registry.insert("c", handle(alice), 2, 0), Ok(()));
        assert_eq!(registry.len(), 2);
    }
}
