//! The floor: the least a WebSocket server can do for a reconnecting client. It accepts the
//! upgrade, reads one text message and answers one; the client is "back" when the answer
//! arrives. Nothing is authenticated, subscribed or replayed, so its reconnect time is the cost
//! of TCP, the WebSocket upgrade and one round trip on this machine: the lower bound for the
//! gateway and nats-server alike.
//!
//! It runs as a child process (`orderflow-loadgen floor-server`), like the other servers: its
//! CPU time can be read apart from the clients', and its sockets do not count against the load
//! generator's open-file limit.

use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use futures::{SinkExt, StreamExt};
use tokio::net::TcpListener;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

use crate::error::Error;
use crate::net;
use crate::signalr::{Ws, small_buffers};

/// Accept-queue length of the floor's listener: what Go servers such as nats-server get
/// (`net.core.somaxconn`, 4096 on current kernels). `TcpListener::bind` would give 128, and
/// a storm then overflows the queue and waits for SYN retransmissions (1 s, 3 s, …), which is
/// not the floor of anything.
const BACKLOG: u32 = 4096;

/// Binds the floor's listener with a storm-sized accept queue.
pub fn listen(addr: SocketAddr) -> Result<TcpListener, Error> {
    let socket = tokio::net::TcpSocket::new_v4()?;
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    Ok(socket.listen(BACKLOG)?)
}

/// The server: accepts for ever; one task per connection.
pub async fn serve(listener: TcpListener) -> Result<(), Error> {
    loop {
        let (stream, _) = listener.accept().await?;
        tokio::spawn(async move {
            let _ = stream.set_nodelay(true);
            let Ok(mut ws) =
                tokio_tungstenite::accept_async_with_config(stream, Some(small_buffers())).await
            else {
                return;
            };
            while let Some(Ok(message)) = ws.next().await {
                if message.is_text() && ws.send(Message::text("back")).await.is_err() {
                    return;
                }
            }
        });
    }
}

/// Opens a client connection from `source` and waits for the answer to its one message.
pub async fn open(source: IpAddr, server: SocketAddr) -> Result<Ws, Error> {
    let stream = net::connect_from(source, server).await?;
    let request = format!("ws://{server}/")
        .into_client_request()
        .map_err(|e| Error::Protocol(e.to_string()))?;
    let (mut ws, _) =
        tokio_tungstenite::client_async_with_config(request, stream, Some(small_buffers()))
            .await
            .map_err(|e| Error::Protocol(format!("upgrade: {e}")))?;
    ws.send(Message::text("hello"))
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
    child: Child,
    addr: SocketAddr,
}

impl FloorProcess {
    /// Starts `loadgen_bin floor-server --listen <addr>` and waits until it accepts.
    pub async fn start(loadgen_bin: &Path, addr: SocketAddr) -> Result<FloorProcess, Error> {
        let child = Command::new(loadgen_bin)
            .args(["floor-server", "--listen", &addr.to_string()])
            .stdin(Stdio::null())
            .spawn()
            .map_err(|e| Error::Floor(format!("spawning {}: {e}", loadgen_bin.display())))?;
        let mut floor = FloorProcess { child, addr };
        for _ in 0..200 {
            if let Ok(Some(status)) = floor.child.try_wait() {
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

impl Drop for FloorProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
