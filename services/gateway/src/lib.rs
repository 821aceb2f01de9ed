//! The OrderFlow gateway: a SignalR-compatible hub (`/hubs/orders`) over authenticated
//! WebSockets. One live feed per stream receives every event in stream order (filling any gap
//! from the stream), and hands it to the in-memory groups (one customer's orders, the admin
//! dashboard), which queue the once-encoded message to their members with its stream position.
//! A client that reconnects to any gateway says where it stopped and gets what it missed, then
//! live events, with nothing lost, repeated or reordered.
//!
//! Code tour: [`protocol`] (wire format) → [`endpoints`] (negotiate, upgrade,
//! [`connection_token`]; the checks shared with [`http_transport`] are in `admission`, its
//! requests between gateways in `forward`) →
//! [`session`] (one connection's life) → `socket` (the loop of one socket) → `hub` (hub
//! methods; the admins' presence methods in `presence_hub`, on [`presence`]) → `resume`,
//! `replay_since`, [`replay`] and [`history`] (what a reconnecting client missed, what the
//! dashboard asks for since a time), all
//! writing through [`connection`] (the [`session::Session`]'s parts: [`outbound`], `liveness`,
//! `inbound`) → [`feed`] (NATS, gaps, [`window`]) → [`groups`] (fan-out) → [`stored`] and
//! [`translate`] (events to hub messages) → [`app`] (wiring, drain; [`state`] is what every
//! handler shares).
//!
//! Modules only use modules below them, so the module graph has no cycle: for data going out,
//! NATS → feed → groups → the connection's queue → socket → transport; for what comes in,
//! socket → hub → resume. Nothing calls back up.

mod admission;
pub mod app;
pub mod config;
pub mod connection;
pub mod connection_token;
pub mod endpoints;
pub mod error;
pub mod feed;
mod forward;
pub mod groups;
pub mod history;
mod http_ends;
pub mod http_transport;
mod hub;
mod inbound;
pub mod live_link;
mod liveness;
pub mod metrics;
mod nats;
pub mod outbound;
mod positions;
pub mod presence;
mod presence_hub;
pub mod protocol;
pub mod registry;
pub mod replay;
mod replay_since;
mod resume;
pub mod session;
mod since;
mod socket;
pub mod state;
pub mod stateful;
pub mod stored;
mod trace;
pub mod translate;
pub mod transport;
pub mod window;

#[doc(hidden)]
pub mod fuzzing {
    //! Private parsers re-exported for the fuzz targets in `fuzz/` (the `Resume` hub method's
    //! arguments and the hub URL's `resume=` list). Not an API: it may change with any commit.
    pub use crate::positions::{parse_position_list, parse_positions};
}

pub use app::{Gateway, HUB_PATH};
pub use config::GatewaySettings;
pub use error::GatewayError;
