//! The NATS side every benchmark starts from: a real nats-server (found by test-support's
//! discovery) with the real `ORDERS`/`INVENTORY` streams, optionally with a plain-text WebSocket
//! listener so that nats-server's own WebSocket clients can be measured on the same server and
//! the same messages as the gateway.

use async_nats::jetstream;
use orderflow_test_support::NatsServer;

use crate::error::Error;

/// nats-server plus a JetStream context on it; dropping it stops the server.
pub struct Backend {
    pub js: jetstream::Context,
    // Declared last: the client goes before the server.
    server: NatsServer,
}

impl Backend {
    /// Starts nats-server (with a WebSocket listener when `websocket` is set) and creates the
    /// streams with the services' default settings.
    pub async fn start(websocket: bool) -> Result<Backend, Error> {
        let server = if websocket {
            NatsServer::start_with_websocket().await
        } else {
            NatsServer::start().await
        };
        let nc = async_nats::connect(server.url())
            .await
            .map_err(|e| Error::Nats(e.to_string()))?;
        let js = jetstream::new(nc);
        orderflow_outbox::ensure_streams(&js, &orderflow_outbox::StreamSettings::default())
            .await
            .map_err(|e| Error::Nats(e.to_string()))?;
        Ok(Backend { js, server })
    }

    /// The client URL (`nats://127.0.0.1:<port>`).
    pub fn url(&self) -> String {
        self.server.url()
    }

    /// The WebSocket listener's address, if started with one.
    pub fn websocket_addr(&self) -> Option<std::net::SocketAddr> {
        let port = self.server.websocket_port()?;
        Some(std::net::SocketAddr::from(([127, 0, 0, 1], port)))
    }

    /// nats-server's process id.
    pub fn pid(&self) -> Option<u32> {
        self.server.pid()
    }

    /// The last sequence stored in `ORDERS`: a position from which a client misses nothing
    /// published later.
    pub async fn orders_last_sequence(&self) -> Result<u64, Error> {
        let mut stream = self
            .js
            .get_stream(orderflow_events::streams::ORDERS)
            .await
            .map_err(|e| Error::Nats(e.to_string()))?;
        let info = stream
            .info()
            .await
            .map_err(|e| Error::Nats(e.to_string()))?;
        Ok(info.state.last_sequence)
    }
}
