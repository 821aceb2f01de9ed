//! The three systems a storm client can be pointed at, as [`Target`]s:
//!
//! - the gateway: negotiate and WebSocket with `resume=ORDERS:<last position>` in the hub URL
//!   (at the first connect: the stream's last sequence before the turn), back when the `Resumed`
//!   invocation arrives;
//! - nats-server's WebSocket listener: `CONNECT`, `SUB live.orders.v1.<customer>.>`, `PING`,
//!   back at the `PONG`; positions from the `Nats-Sequence` header that RePublish adds;
//! - the floor server: back when its one answer arrives.

use std::net::{IpAddr, SocketAddr};
use std::time::Instant;

use futures::StreamExt;
use orderflow_events::subjects;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use uuid::Uuid;

use super::clients::{ClientLog, Target};
use crate::error::Error;
use crate::floor;
use crate::nats_proto::Op;
use crate::nats_ws::NatsWs;
use crate::signalr::{self, HubProtocol, Record, ResumeStatus, Ws};

/// Gateway clients, one customer (and token) each.
pub(crate) struct GatewayTarget {
    pub addr: SocketAddr,
    pub sources: Vec<IpAddr>,
    /// One per source address, bound to it.
    pub http: Vec<reqwest::Client>,
    pub tokens: Vec<String>,
    /// `ORDERS`' last sequence before the turn: where first connects resume from.
    pub start: u64,
    /// The hub protocol the clients speak.
    pub protocol: HubProtocol,
}

impl Target for GatewayTarget {
    type Conn = Ws;

    async fn open(&self, index: usize, log: &mut ClientLog) -> Result<Ws, Error> {
        let s = index % self.sources.len();
        let from = log.last_seen().unwrap_or(self.start);
        let query = format!("resume=ORDERS:{from}");
        let started = Instant::now();
        let mut ws = signalr::open(
            index,
            self.sources[s],
            self.addr,
            &self.http[s],
            &self.tokens[index],
            Some(&query),
            self.protocol,
        )
        .await?;
        let handshake = started.elapsed();
        loop {
            let Some(message) = ws.next().await else {
                return Err(Error::Protocol("closed before Resumed".into()));
            };
            let message = message.map_err(|e| Error::Protocol(e.to_string()))?;
            // Records after `Resumed` in the same frame are already live events: keep them.
            let (resumed, closed) = records(&message, log);
            if closed {
                return Err(Error::Protocol("Close before Resumed".into()));
            }
            if let Some(status) = resumed {
                if log.after_drop() {
                    log.phases = Some((handshake, started.elapsed() - handshake));
                }
                let attempts = log.attempts();
                match status {
                    ResumeStatus::Ok => attempts.ok += 1,
                    ResumeStatus::Reload => attempts.reload += 1,
                    ResumeStatus::Unexpected(_) => attempts.unexpected += 1,
                }
                return Ok(ws);
            }
        }
    }

    async fn read(&self, ws: &mut Ws, log: &mut ClientLog) -> Result<bool, Error> {
        match ws.next().await {
            Some(Ok(Message::Close(_))) | None => Ok(false),
            Some(Ok(message @ (Message::Text(_) | Message::Binary(_)))) => {
                Ok(!records(&message, log).1)
            }
            Some(Ok(_)) => Ok(true),
            Some(Err(e)) => Err(Error::Protocol(e.to_string())),
        }
    }

    fn tcp(ws: &Ws) -> &TcpStream {
        ws.get_ref()
    }
}

/// Records the order events of one message (JSON or MessagePack); returns the `Resumed`
/// status if one came, and whether a Close came.
fn records(message: &Message, log: &mut ClientLog) -> (Option<ResumeStatus>, bool) {
    let mut resumed = None;
    let mut closed = false;
    signalr::classify_message(message, |record| match record {
        Record::OrderEvent { sequence } => log.seen.push(sequence),
        Record::Resumed(status) => resumed = Some(status),
        Record::Close => closed = true,
        Record::Other => {}
    });
    (resumed, closed)
}

/// nats-server WebSocket clients, one customer each.
pub(crate) struct NatsTarget {
    pub addr: SocketAddr,
    pub sources: Vec<IpAddr>,
    pub customers: Vec<Uuid>,
}

impl Target for NatsTarget {
    type Conn = NatsWs;

    async fn open(&self, index: usize, log: &mut ClientLog) -> Result<NatsWs, Error> {
        let source = self.sources[index % self.sources.len()];
        let mut nats = NatsWs::connect(source, self.addr).await?;
        let subject = subjects::live(&subjects::customer_orders(self.customers[index]));
        nats.subscribe_and_ping(&subject, 1).await?;
        loop {
            match nats.next_op().await? {
                Some(Op::Pong) => {
                    log.attempts().ok += 1;
                    return Ok(nats);
                }
                Some(Op::Msg(m)) => log.seen.extend(m.stream_sequence()),
                Some(Op::Err(e)) => return Err(Error::Protocol(format!("-ERR {e}"))),
                Some(_) => {}
                None => return Err(Error::Protocol("closed before PONG".into())),
            }
        }
    }

    async fn read(&self, nats: &mut NatsWs, log: &mut ClientLog) -> Result<bool, Error> {
        match nats.next_msg().await? {
            Some(m) => {
                log.seen.extend(m.stream_sequence());
                Ok(true)
            }
            None => Ok(false),
        }
    }

    fn tcp(nats: &NatsWs) -> &TcpStream {
        nats.tcp()
    }
}

/// Floor clients.
pub(crate) struct FloorTarget {
    pub addr: SocketAddr,
    pub sources: Vec<IpAddr>,
}

impl Target for FloorTarget {
    type Conn = Ws;

    async fn open(&self, index: usize, log: &mut ClientLog) -> Result<Ws, Error> {
        let ws = floor::open(self.sources[index % self.sources.len()], self.addr, "hello").await?;
        log.attempts().ok += 1;
        Ok(ws)
    }

    async fn read(&self, ws: &mut Ws, _log: &mut ClientLog) -> Result<bool, Error> {
        match ws.next().await {
            Some(Ok(Message::Close(_))) | None => Ok(false),
            Some(Ok(_)) => Ok(true),
            Some(Err(e)) => Err(Error::Protocol(e.to_string())),
        }
    }

    fn tcp(ws: &Ws) -> &TcpStream {
        ws.get_ref()
    }
}
