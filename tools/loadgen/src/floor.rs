//! The floor: the least a WebSocket server can do, the lower bound for the gateway and
//! nats-server alike. Nothing is authenticated, translated, buffered for a resume or replayed.
//!
//! - Reconnect storm: it accepts the upgrade, reads one text message and answers one; a client
//!   is "back" when the answer arrives (the cost of TCP, the upgrade and one round trip).
//! - Delivery: with `--nats`, it also makes one subscription to `live.orders.v1.>` and routes
//!   each message by the customer token of its subject (`live.orders.v1.<customer>.…`) to the
//!   sockets that named that customer in their text message (`*`: every message), writing the
//!   stored protobuf payload unchanged as a binary frame (protobuf is not UTF-8, so a text
//!   frame would be invalid). A full per-socket queue drops the message, which the benchmark
//!   counts as missing.
//!
//! It runs as a child process (`orderflow-loadgen floor-server`), like the other servers: its
//! CPU time and memory can be read apart from the clients', and its sockets do not count
//! against the load generator's open-file limit.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use futures::{SinkExt, StreamExt};
use orderflow_events::subjects;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::{Bytes, Message};

use crate::child::ServerChild;
use crate::error::Error;
use crate::net;
use crate::signalr::{Ws, small_buffers};

/// Accept-queue length of the floor's listener: what Go servers such as nats-server get
/// (`net.core.somaxconn`, 4096 on current kernels). `TcpListener::bind` would give 128, and
/// a storm then overflows the queue and waits for SYN retransmissions (1 s, 3 s, …), which is
/// not the floor of anything.
const BACKLOG: u32 = 4096;

/// Messages queued per socket before the floor drops one: the gateway's default outbound queue
/// (`GATEWAY_OUTBOUND_QUEUE`).
const QUEUE: usize = 512;

/// The key of a socket that takes every message (broadcast).
pub const EVERYTHING: &str = "*";

/// Runs the floor server on `listen`; with `nats`, subscribed there before it accepts anyone.
pub async fn run(listen_addr: SocketAddr, nats: Option<&str>) -> Result<(), Error> {
    let routes = Arc::new(Routes::default());
    if let Some(url) = nats {
        let client = async_nats::connect(url)
            .await
            .map_err(|e| Error::Nats(e.to_string()))?;
        let mut feed = client
            .subscribe(subjects::live(subjects::ALL_ORDER_EVENTS))
            .await
            .map_err(|e| Error::Nats(e.to_string()))?;
        client
            .flush()
            .await
            .map_err(|e| Error::Nats(e.to_string()))?;
        let routes = routes.clone();
        tokio::spawn(async move {
            while let Some(message) = feed.next().await {
                routes.route(&message.subject, &message.payload);
            }
        });
    }
    serve(listen(listen_addr)?, routes).await
}

/// Binds the floor's listener with a storm-sized accept queue.
pub fn listen(addr: SocketAddr) -> Result<TcpListener, Error> {
    let socket = tokio::net::TcpSocket::new_v4()?;
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    Ok(socket.listen(BACKLOG)?)
}

/// Accepts for ever; one task per connection.
async fn serve(listener: TcpListener, routes: Arc<Routes>) -> Result<(), Error> {
    loop {
        let (stream, _) = listener.accept().await?;
        tokio::spawn(connection(stream, routes.clone()));
    }
}

/// One socket: every text message (re)names what it wants and is answered; routed payloads
/// are written as they come, several per flush when they queue up.
async fn connection(stream: TcpStream, routes: Arc<Routes>) {
    let _ = stream.set_nodelay(true);
    let Ok(mut ws) =
        tokio_tungstenite::accept_async_with_config(stream, Some(server_buffers())).await
    else {
        return;
    };
    let id = routes.next_id.fetch_add(1, Ordering::Relaxed);
    let (tx, mut rx) = mpsc::channel::<Bytes>(QUEUE);
    let mut key: Option<String> = None;
    loop {
        tokio::select! {
            message = ws.next() => match message {
                Some(Ok(Message::Text(text))) => {
                    if let Some(old) = key.replace(text.as_str().to_owned()) {
                        routes.remove(&old, id);
                    }
                    routes.add(text.as_str(), id, tx.clone());
                    if ws.send(Message::text("back")).await.is_err() {
                        break;
                    }
                }
                Some(Ok(_)) => {}
                Some(Err(_)) | None => break,
            },
            Some(payload) = rx.recv() => {
                let mut written = ws.feed(Message::Binary(payload)).await;
                while let (Ok(()), Ok(more)) = (&written, rx.try_recv()) {
                    written = ws.feed(Message::Binary(more)).await;
                }
                if written.is_err() || ws.flush().await.is_err() {
                    break;
                }
            }
        }
    }
    if let Some(key) = key {
        routes.remove(&key, id);
    }
}

/// The gateway's read buffer (1 KiB; a larger message reserves its length): the floor should
/// not spend more per idle connection than the system it is the lower bound of.
fn server_buffers() -> WebSocketConfig {
    WebSocketConfig::default().read_buffer_size(1024)
}

/// Who gets what: the queues of each customer's sockets, and under [`EVERYTHING`] those of the
/// sockets that get every message.
#[derive(Default)]
struct Routes {
    next_id: AtomicU64,
    table: RwLock<HashMap<String, Queues>>,
}

/// The queues of the sockets under one key, with the sockets' ids.
type Queues = Vec<(u64, mpsc::Sender<Bytes>)>;

impl Routes {
    fn add(&self, key: &str, id: u64, tx: mpsc::Sender<Bytes>) {
        let mut table = self.table.write().unwrap();
        table.entry(key.to_owned()).or_default().push((id, tx));
    }

    fn remove(&self, key: &str, id: u64) {
        let mut table = self.table.write().unwrap();
        if let Some(list) = table.get_mut(key) {
            list.retain(|(i, _)| *i != id);
            if list.is_empty() {
                table.remove(key);
            }
        }
    }

    /// `live.orders.v1.<customer>.<order>.<event>`: to the customer's sockets and to those
    /// that take everything. Never waits: a full queue loses the message.
    fn route(&self, subject: &str, payload: &Bytes) {
        let Some(customer) = subject.split('.').nth(3) else {
            return;
        };
        let table = self.table.read().unwrap();
        for key in [customer, EVERYTHING] {
            for (_, tx) in table.get(key).into_iter().flatten() {
                let _ = tx.try_send(payload.clone());
            }
        }
    }
}

/// Opens a client connection from `source`, sends `key` (a customer id, [`EVERYTHING`], or
/// anything for a storm client) and waits for the answer.
pub async fn open(source: IpAddr, server: SocketAddr, key: &str) -> Result<Ws, Error> {
    let stream = net::connect_from(source, server).await?;
    let request = format!("ws://{server}/")
        .into_client_request()
        .map_err(|e| Error::Protocol(e.to_string()))?;
    let (mut ws, _) =
        tokio_tungstenite::client_async_with_config(request, stream, Some(small_buffers()))
            .await
            .map_err(|e| Error::Protocol(format!("upgrade: {e}")))?;
    ws.send(Message::text(key))
        .await
        .map_err(|e| Error::Protocol(format!("send: {e}")))?;
    loop {
        match ws.next().await {
            Some(Ok(Message::Text(_))) => return Ok(ws),
            Some(Ok(_)) => {}
            Some(Err(e)) => return Err(Error::Protocol(format!("read: {e}"))),
            None => return Err(Error::Protocol("closed before the answer".into())),
        }
    }
}

/// The floor server process; dropping it kills the process.
pub struct FloorProcess {
    child: ServerChild,
    addr: SocketAddr,
}

impl FloorProcess {
    /// Starts `loadgen_bin floor-server --listen <addr> [--nats <url>]` and waits until it
    /// accepts (with `nats`: subscribed first).
    pub async fn start(
        loadgen_bin: &Path,
        addr: SocketAddr,
        nats: Option<&str>,
    ) -> Result<FloorProcess, Error> {
        let mut command = Command::new(loadgen_bin);
        command.args(["floor-server", "--listen", &addr.to_string()]);
        if let Some(url) = nats {
            command.args(["--nats", url]);
        }
        let child = command
            .stdin(Stdio::null())
            .spawn()
            .map_err(|e| Error::Floor(format!("spawning {}: {e}", loadgen_bin.display())))?;
        let mut floor = FloorProcess {
            child: ServerChild::new(child),
            addr,
        };
        for _ in 0..200 {
            if let Some(status) = floor.child.exited() {
                return Err(Error::Floor(format!("exited with {status}")));
            }
            if tokio::net::TcpStream::connect(addr).await.is_ok() {
                return Ok(floor);
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        Err(Error::Floor("not accepting after 5 s".into()))
    }

    /// Where it listens.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Its process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_by_the_customer_token_and_to_everything() {
        let routes = Routes::default();
        let (alice, mut alice_rx) = mpsc::channel(4);
        let (all, mut all_rx) = mpsc::channel(4);
        routes.add("alice", 1, alice);
        routes.add(EVERYTHING, 2, all);
        let payload = Bytes::from_static(b"event");
        routes.route("live.orders.v1.alice.o1.status_changed", &payload);
        routes.route("live.orders.v1.bob.o2.status_changed", &payload);
        routes.route("live", &payload);
        assert_eq!(alice_rx.try_recv().unwrap(), payload);
        assert!(alice_rx.try_recv().is_err());
        assert_eq!(
            (all_rx.try_recv().is_ok(), all_rx.try_recv().is_ok()),
            (true, true)
        );
        assert!(all_rx.try_recv().is_err());

        routes.remove("alice", 1);
        routes.route("live.orders.v1.alice.o3.status_changed", &payload);
        assert!(alice_rx.try_recv().is_err());
    }
}
