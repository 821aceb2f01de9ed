//! Real infrastructure for integration tests: nats-server (single node or JetStream cluster)
//! and PostgreSQL, started on free loopback ports, plus binary discovery shared with
//! `cargo xtask`.
//!
//! ```no_run
//! # async fn demo() {
//! let nats = orderflow_test_support::NatsServer::start().await;
//! let db = orderflow_test_support::fresh_database().await;
//! let pool = db.pool().await;
//! # let _ = (nats.url(), pool);
//! # }
//! ```
//!
//! With the feature `service`, [`service`] serves a service's router in process
//! ([`service::Served`]) and holds the assertions the services' tests share, and [`jetstream`]
//! reads, waits for and publishes events. [`poll`] waits for a condition with a deadline.
//!
//! Servers never outlive the test process, even when it is killed (see the watchdog in
//! `process.rs`). Missing binaries produce a panic telling you to run `cargo xtask tools`.

mod database;
pub mod discover;
mod error;
#[cfg(feature = "service")]
pub mod jetstream;
mod nats;
mod nats_cluster;
mod pg;
pub mod poll;
mod process;
pub mod proxy;
mod readyz;
#[cfg(feature = "service")]
pub mod service;

use std::collections::HashSet;
use std::net::TcpListener;
use std::sync::Mutex;

pub use database::{TestDatabase, fresh_database, server_url};
pub use error::{Error, Result};
pub use nats::NatsServer;
pub use nats_cluster::{CLUSTER_NAME, NatsCluster};
pub use pg::{PgCluster, SUPERUSER};
pub use poll::{eventually, holds_within, within};
pub use readyz::readyz_until;

/// A TCP port on 127.0.0.1 that is free right now and not yet handed out by this process.
pub fn free_port() -> u16 {
    free_ports::<1>()[0]
}

/// `N` distinct free ports. All are reserved at once (listeners held until the end), because
/// the kernel may hand a just-released port out again; and ports already given out by this
/// process are skipped, so servers started side by side in one test never collide.
pub fn free_ports<const N: usize>() -> [u16; N] {
    static GIVEN: Mutex<Option<HashSet<u16>>> = Mutex::new(None);
    let mut given = GIVEN.lock().unwrap_or_else(|e| e.into_inner());
    let given = given.get_or_insert_with(HashSet::new);
    let mut held = Vec::with_capacity(N);
    let mut ports = [0u16; N];
    let mut found = 0;
    while found < N {
        let listener = TcpListener::bind(("127.0.0.1", 0)).expect("binding a loopback port");
        let port = listener.local_addr().expect("local address").port();
        held.push(listener);
        if given.insert(port) {
            ports[found] = port;
            found += 1;
        }
    }
    ports
}

#[cfg(test)]
mod tests {
    #[test]
    fn free_ports_are_distinct_and_bindable() {
        let ports = super::free_ports::<5>();
        let unique: std::collections::HashSet<_> = ports.iter().collect();
        assert_eq!(unique.len(), 5);
        for port in ports {
            std::net::TcpListener::bind(("127.0.0.1", port)).unwrap();
        }
        assert!(!ports.contains(&super::free_port()));
    }
}
