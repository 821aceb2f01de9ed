//! A minimal NATS client over WebSocket, written directly on tokio-tungstenite so that the
//! comparison with the gateway is client code against client code: connect (read `INFO`, send
//! `CONNECT`), `SUB`, `PING`/`PONG`, and messages (`MSG`/`HMSG`) with their headers. Server
//! `PING`s are answered here; no reconnect logic (the benchmark decides when to reconnect).

use std::net::{IpAddr, SocketAddr};

use futures::{SinkExt, StreamExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

use crate::error::Error;
use crate::nats_proto::{CONNECT, Msg, Op, Parser};
use crate::net;
use crate::signalr::{Ws, small_buffers};

/// One connection to nats-server's WebSocket listener.
pub struct NatsWs {
    ws: Ws,
    parser: Parser,
    /// WebSocket payload bytes received so far.
    received: u64,
}

impl NatsWs {
    /// Opens the WebSocket from `source` to `server` (`ws://<server>/`), waits for `INFO` and
    /// sends `CONNECT`. Nothing is confirmed yet: send a `PING` and wait for its `PONG`.
    pub async fn connect(source: IpAddr, server: SocketAddr) -> Result<NatsWs, Error> {
        let stream = net::connect_from(source, server).await?;
        let request = format!("ws://{server}/")
            .into_client_request()
            .map_err(|e| Error::Protocol(e.to_string()))?;
        let (ws, _) =
            tokio_tungstenite::client_async_with_config(request, stream, Some(small_buffers()))
                .await
                .map_err(|e| Error::Protocol(format!("upgrade: {e}")))?;
        let mut client = NatsWs {
            ws,
            parser: Parser::default(),
            received: 0,
        };
        match client.next_op().await? {
            Some(Op::Info(_)) => {}
            other => return Err(Error::Protocol(format!("expected INFO, got {other:?}"))),
        }
        client.send(CONNECT).await?;
        Ok(client)
    }

    /// Sends raw protocol text (one WebSocket frame; several operations may share it).
    pub async fn send(&mut self, text: &str) -> Result<(), Error> {
        self.ws
            .send(Message::binary(text.as_bytes().to_vec()))
            .await
            .map_err(|e| Error::Protocol(format!("send: {e}")))
    }

    /// Subscribes `subject` with subscription id `sid` and pings in the same frame: the `PONG`
    /// then means the subscription is in place.
    pub async fn subscribe_and_ping(&mut self, subject: &str, sid: u64) -> Result<(), Error> {
        self.send(&format!("SUB {subject} {sid}\r\nPING\r\n")).await
    }

    /// The next operation other than a server `PING` (answered here), or `None` once the
    /// server closed the connection. Cancelling it while it waits for bytes loses nothing (they
    /// only ever go into the parser).
    pub async fn next_op(&mut self) -> Result<Option<Op>, Error> {
        loop {
            match self.parser.next_op()? {
                Some(Op::Ping) => self.send("PONG\r\n").await?,
                Some(op) => return Ok(Some(op)),
                None => match self.ws.next().await {
                    Some(Ok(Message::Binary(b))) => {
                        self.received += b.len() as u64;
                        self.parser.push(&b);
                    }
                    Some(Ok(Message::Text(t))) => {
                        self.received += t.len() as u64;
                        self.parser.push(t.as_bytes());
                    }
                    Some(Ok(Message::Close(_))) | None => return Ok(None),
                    Some(Ok(_)) => {}
                    Some(Err(e)) => return Err(Error::Protocol(format!("read: {e}"))),
                },
            }
        }
    }

    /// The next message, skipping other operations; `None` once closed.
    pub async fn next_msg(&mut self) -> Result<Option<Msg>, Error> {
        loop {
            match self.next_op().await? {
                Some(Op::Msg(m)) => return Ok(Some(m)),
                Some(Op::Err(e)) => return Err(Error::Protocol(format!("-ERR {e}"))),
                Some(_) => {}
                None => return Ok(None),
            }
        }
    }

    /// WebSocket payload bytes received so far.
    pub fn received_bytes(&self) -> u64 {
        self.received
    }

    /// The TCP stream underneath (to reset it, see [`net::reset_on_close`]).
    pub fn tcp(&self) -> &TcpStream {
        self.ws.get_ref()
    }
}
