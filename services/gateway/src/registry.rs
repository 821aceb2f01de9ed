//! Negotiated connections by connection token, and the per-user connection count. The token is
//! the bearer secret of the `id` query parameter; it is removed the moment a connection sends
//! Close or ends, so later upgrades with it get 404.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::AtomicBool;

use axum::extract::ws::WebSocket;
use orderflow_auth::Principal;
use tokio::sync::mpsc;
use uuid::Uuid;

/// A socket handed to its logical connection after an authenticated upgrade.
pub struct Attach {
    /// The upgraded socket.
    pub socket: WebSocket,
    /// Who opened it (same user as the negotiate, checked before the upgrade).
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
    /// Delivers sockets (first attach and stateful re-attaches).
    pub attach: AttachSender,
    /// A socket is attached; a second one is only accepted for stateful connections.
    pub attached: AtomicBool,
    /// The handshake switched stateful reconnect on.
    pub stateful: AtomicBool,
}

#[derive(Default)]
struct Inner {
    by_token: HashMap<String, std::sync::Arc<ConnectionHandle>>,
    per_user: HashMap<Uuid, usize>,
}

/// All connections of this gateway.
#[derive(Default)]
pub struct Registry {
    inner: Mutex<Inner>,
}

impl Registry {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Registers a connection unless the user already has `cap` of them.
    pub fn insert(
        &self,
        token: String,
        handle: std::sync::Arc<ConnectionHandle>,
        cap: usize,
    ) -> bool {
        let mut inner = self.lock();
        let count = inner.per_user.entry(handle.user_id).or_default();
        if *count >= cap {
            return false;
        }
        *count += 1;
        inner.by_token.insert(token, handle);
        true
    }

    /// The connection a token names, if it is still valid.
    pub fn get(&self, token: &str) -> Option<std::sync::Arc<ConnectionHandle>> {
        self.lock().by_token.get(token).cloned()
    }

    /// Makes the token invalid (after a Close) without ending the count.
    pub fn invalidate(&self, token: &str) {
        self.lock().by_token.remove(token);
    }

    /// Forgets a connection for good.
    pub fn remove(&self, token: &str, user_id: Uuid) {
        let mut inner = self.lock();
        inner.by_token.remove(token);
        if let Some(count) = inner.per_user.get_mut(&user_id) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                inner.per_user.remove(&user_id);
            }
        }
    }

    /// Connections currently counted.
    pub fn len(&self) -> usize {
        self.lock().per_user.values().sum()
    }

    /// Whether no connection is open.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}
