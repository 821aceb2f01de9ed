//! OrderFlow's load tool, `orderflow-loadgen`: benchmarks of the gateway under real order
//! events on loopback, each server in a process of its own so that its CPU and memory can be
//! read apart from the clients'.
//!
//! - [`delivery`]: N idle connections (memory per connection), then deliveries/s, CPU per
//!   delivery, publish→client latency and saturation throughput, per customer and broadcast,
//!   against the gateway, nats-server's WebSocket listener and a bare WebSocket floor in
//!   alternating turns (`orderflow-loadgen delivery`).
//! - [`storm`]: every connection reset at once and reconnecting, against the gateway,
//!   nats-server's WebSocket listener and a bare WebSocket floor, in alternating turns
//!   (`orderflow-loadgen storm`).
//! - [`instructions`]: the gateway's instructions per delivery under valgrind's callgrind, a
//!   figure machine noise cannot move, against a budget (`orderflow-loadgen instructions`).
//!
//! Shared pieces, each usable by a later benchmark: [`backend`] (nats-server with the real
//! streams, optionally a WebSocket listener), [`gateway`] (the gateway process), [`floor`] (the
//! floor server and its process), [`publish`] (real events to JetStream, paced or as fast as
//! the consumers keep up, with the ledger of what was acknowledged), [`ledger`] (lost /
//! duplicated / out-of-order checks), [`latency`] (deliveries and their latency), [`histogram`]
//! (a server's own latency histogram, read from its `/metrics`), [`signalr`]
//! (the gateway's client protocol), [`nats_ws`] and [`nats_proto`] (a minimal NATS client over
//! WebSocket), [`net`] (source addresses, abrupt closes), [`procfs`] (CPU, memory, fd limit).

pub mod backend;
pub mod child;
pub mod delivery;
pub mod error;
pub mod floor;
pub mod gateway;
pub mod histogram;
pub mod instructions;
pub mod latency;
pub mod ledger;
pub mod nats_proto;
pub mod nats_ws;
pub mod net;
pub mod procfs;
pub mod publish;
pub mod signalr;
pub mod storm;

pub use error::Error;
