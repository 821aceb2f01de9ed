//! The state every request handler and connection shares ([`Shared`], behind the cheap
//! [`AppState`] handle). Its own module, below the handlers and the sessions, so that they can
//! all hold it without depending on the wiring in `app` (which depends on them).

use std::ops::Deref;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use orderflow_auth::Authenticator;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::config::GatewaySettings;
use crate::connection_token::TokenKey;
use crate::feed::Feed;
use crate::groups::Groups;
use crate::history::History;
use crate::protocol::StreamName;
use crate::registry::Registry;

/// State shared by every request and connection.
pub struct Shared {
    /// The settings the gateway was started with.
    pub settings: GatewaySettings,
    /// Validates JWTs.
    pub auth: Authenticator,
    /// Seals and checks connection tokens (shared by every gateway of a deployment).
    pub token_key: TokenKey,
    /// The connections this gateway holds.
    pub registry: Registry,
    /// Groups and the fan-out to their members.
    pub groups: Arc<Groups>,
    /// The live feeds of `ORDERS` and `INVENTORY` (index `StreamName as usize`).
    pub feeds: [Arc<Feed>; 2],
    /// Reads the streams for resumes.
    pub history: History,
    /// NATS connection.
    pub nats: async_nats::Client,
    /// Who is connected, here and on the other gateways (for the admin dashboard).
    pub presence: Arc<crate::presence::Presence>,
    /// Per-delivery metric handles.
    pub meters: crate::metrics::Meters,
    /// Cancelled when the gateway drains.
    pub shutdown: CancellationToken,
    /// Tracks connection tasks so the drain can wait for them.
    pub tracker: TaskTracker,
    /// Negotiates per client address per second (`GATEWAY_NEGOTIATE_RATE_PER_SOURCE`).
    pub negotiate_rate: orderflow_runtime::limits::SourceRate,
    /// The last connection key handed out (see [`AppState::next_key`]).
    pub(crate) next_key: AtomicU64,
}

/// Cheap-to-clone handle on [`Shared`].
#[derive(Clone)]
pub struct AppState(pub(crate) Arc<Shared>);

impl Deref for AppState {
    type Target = Shared;
    fn deref(&self) -> &Shared {
        &self.0
    }
}

impl AppState {
    /// A process-unique key for a new connection.
    pub fn next_key(&self) -> u64 {
        self.next_key.fetch_add(1, Ordering::Relaxed)
    }

    /// The live feed of `stream`.
    pub fn feed(&self, stream: StreamName) -> &Feed {
        &self.feeds[stream as usize]
    }

    /// Whether both feeds know where their streams stand, so connections can be served.
    pub fn is_ready(&self) -> bool {
        self.feeds.iter().all(|f| f.is_ready())
    }
}
