//! The delivery benchmark's clients, one task each, the same for every system except how a
//! connection is opened and how a frame is read:
//!
//! - gateway (and gateway-mp): negotiate with the user's dev token, WebSocket, JSON (or
//!   MessagePack) handshake (broadcast: an admin each, `dashboard=true` in the hub URL); a
//!   delivery is an `OrderStatusChanged` record (or MessagePack message);
//! - nats-ws: `CONNECT`, `SUB live.orders.v1.<customer>.>` (broadcast: `live.orders.v1.>`),
//!   `PING`, then `PONG`; a delivery is a message;
//! - floor: the customer id (broadcast: `*`) as the first text message, then its answer; a
//!   delivery is a binary frame.
//!
//! A connection counts as open when its server has confirmed the subscription (handshake
//! answer, `PONG`, answer), so that publishing afterwards reaches every client.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use orderflow_auth::dev::{self, DevClaims};
use orderflow_events::subjects;
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::Message;
use uuid::Uuid;

use super::{Mode, System};
use crate::error::Error;
use crate::latency::{self, Stats};
use crate::nats_proto::Op;
use crate::nats_ws::NatsWs;
use crate::publish::Acked;
use crate::signalr::{self, HubProtocol, RS, Ws};
use crate::{floor, net};

/// An open attempt that takes longer fails.
const OPEN_TIMEOUT: Duration = Duration::from_secs(30);

/// Who connects where, as whom.
pub(crate) struct Plan {
    pub system: System,
    pub mode: Mode,
    pub addr: SocketAddr,
    pub sources: Vec<IpAddr>,
    pub http: Vec<reqwest::Client>,
    /// The customers events are published for.
    pub customers: Vec<Uuid>,
    /// Per customer: connections `i * per_customer ..` follow customer `i`.
    pub per_customer: usize,
    /// Gateway: one token per customer (per customer) or per connection (broadcast, admins).
    pub tokens: Vec<String>,
}

impl Plan {
    /// The plan for `connections` clients; customers get fresh ids.
    pub(crate) fn new(
        system: System,
        mode: Mode,
        addr: SocketAddr,
        sources: Vec<IpAddr>,
        http: Vec<reqwest::Client>,
        connections: usize,
        per_customer: usize,
    ) -> Plan {
        let per_customer = per_customer.max(1);
        let customers = match mode {
            Mode::PerCustomer => connections.div_ceil(per_customer),
            // Events still need customers; nobody follows one in particular.
            Mode::Broadcast => 64,
        };
        let customers: Vec<Uuid> = (0..customers).map(|_| Uuid::now_v7()).collect();
        let tokens = match (system, mode) {
            (System::Gateway | System::GatewayMp, Mode::PerCustomer) => customers
                .iter()
                .map(|c| dev::issue_hs256(dev::SECRET, DevClaims::new(*c).name("Load Test")))
                .collect(),
            (System::Gateway | System::GatewayMp, Mode::Broadcast) => (0..connections)
                .map(|_| {
                    let admin = DevClaims::new(Uuid::now_v7()).name("Load Admin");
                    dev::issue_hs256(dev::SECRET, admin.role("Admin"))
                })
                .collect(),
            _ => Vec::new(),
        };
        Plan {
            system,
            mode,
            addr,
            sources,
            http,
            customers,
            per_customer,
            tokens,
        }
    }

    /// The customer client `i` follows (per-customer mode).
    pub(crate) fn customer_of(&self, i: usize) -> usize {
        i / self.per_customer
    }

    /// Deliveries one event makes on average when `opened` clients are open.
    pub(crate) fn fan_out(&self, opened: usize) -> f64 {
        match self.mode {
            Mode::PerCustomer => opened as f64 / self.customers.len() as f64,
            Mode::Broadcast => opened as f64,
        }
    }

    /// What each client should have received of the `acked` events, given which are `open`.
    pub(crate) fn expected(&self, acked: &[Acked], open: &[bool]) -> Vec<u64> {
        let per_customer = match self.mode {
            Mode::Broadcast => Vec::new(),
            Mode::PerCustomer => {
                let mut counts = vec![0u64; self.customers.len()];
                for a in acked {
                    counts[a.customer] += 1;
                }
                counts
            }
        };
        (0..open.len())
            .map(|i| match (open[i], self.mode) {
                (false, _) => 0,
                (true, Mode::Broadcast) => acked.len() as u64,
                (true, Mode::PerCustomer) => per_customer[self.customer_of(i)],
            })
            .collect()
    }
}

/// An open connection of any system.
enum Conn {
    Gateway(Ws),
    Nats(NatsWs),
    Floor(Ws),
}

/// Opens clients `0..n`, at most `concurrency` attempts at a time, and starts reading each as
/// soon as it is open. Returns which opened and their reader tasks, and the first failure.
pub(crate) async fn open_all(
    plan: &Arc<Plan>,
    stats: &Arc<Stats>,
    n: usize,
    concurrency: usize,
) -> (Vec<bool>, Vec<JoinHandle<()>>, Option<Error>) {
    let results: Vec<(usize, Result<JoinHandle<()>, Error>)> = futures::stream::iter(0..n)
        .map(|i| async move {
            let opened = tokio::time::timeout(OPEN_TIMEOUT, open(plan, i))
                .await
                .unwrap_or_else(|_| {
                    Err(Error::Client {
                        index: i,
                        reason: "open timed out".into(),
                    })
                });
            let stats = stats.clone();
            (i, opened.map(|conn| tokio::spawn(read(conn, i, stats))))
        })
        .buffer_unordered(concurrency.max(1))
        .collect()
        .await;
    let mut open = vec![false; n];
    let mut readers = Vec::with_capacity(n);
    let mut first_error = None;
    for (i, result) in results {
        match result {
            Ok(reader) => {
                open[i] = true;
                readers.push(reader);
            }
            Err(e) => {
                first_error.get_or_insert(e);
            }
        }
    }
    (open, readers, first_error)
}

/// Opens client `i` and waits until its server confirmed what it follows.
async fn open(plan: &Plan, i: usize) -> Result<Conn, Error> {
    let s = i % plan.sources.len();
    let source = plan.sources[s];
    let customer = match plan.mode {
        Mode::PerCustomer => Some(plan.customers[plan.customer_of(i)]),
        Mode::Broadcast => None,
    };
    match plan.system {
        System::Gateway | System::GatewayMp => {
            let (jwt, query) = match customer {
                Some(_) => (&plan.tokens[plan.customer_of(i)], None),
                None => (&plan.tokens[i], Some("dashboard=true")),
            };
            let protocol = plan.system.hub_protocol().unwrap_or(HubProtocol::Json);
            let ws =
                signalr::open(i, source, plan.addr, &plan.http[s], jwt, query, protocol).await?;
            Ok(Conn::Gateway(ws))
        }
        System::Nats => {
            let mut nats = NatsWs::connect(source, plan.addr).await?;
            let subject = match customer {
                Some(c) => subjects::live(&subjects::customer_orders(c)),
                None => subjects::live(subjects::ALL_ORDER_EVENTS),
            };
            nats.subscribe_and_ping(&subject, 1).await?;
            loop {
                match nats.next_op().await? {
                    Some(Op::Pong) => return Ok(Conn::Nats(nats)),
                    Some(Op::Err(e)) => return Err(Error::Protocol(format!("-ERR {e}"))),
                    Some(_) => {}
                    None => return Err(Error::Protocol("closed before PONG".into())),
                }
            }
        }
        System::Floor => {
            let key = customer.map_or_else(|| floor::EVERYTHING.to_owned(), |c| c.to_string());
            Ok(Conn::Floor(floor::open(source, plan.addr, &key).await?))
        }
    }
}

/// Reads client `i`'s connection until it closes, counting and timing deliveries.
async fn read(conn: Conn, i: usize, stats: Arc<Stats>) {
    match conn {
        Conn::Gateway(mut ws) => {
            while let Some(Ok(message)) = ws.next().await {
                match &message {
                    Message::Text(text) => {
                        count_bytes(&stats, text.len());
                        for record in text.as_str().split(RS) {
                            if latency::is_status_change(record) {
                                stats.deliver(i, latency::json_updated_at(record));
                            }
                        }
                    }
                    Message::Binary(data) => {
                        count_bytes(&stats, data.len());
                        for body in signalr::binary_messages(data) {
                            if latency::is_binary_status_change(body) {
                                stats.deliver(i, latency::msgpack_updated_at(body));
                            }
                        }
                    }
                    _ => {}
                }
            }
            net::reset_on_close(ws.get_ref());
        }
        Conn::Nats(mut nats) => {
            let mut counted = 0;
            while let Ok(Some(msg)) = nats.next_msg().await {
                let received = nats.received_bytes();
                count_bytes(&stats, (received - counted) as usize);
                counted = received;
                stats.deliver(i, latency::proto_updated_at(&msg.payload));
            }
            net::reset_on_close(nats.tcp());
        }
        Conn::Floor(mut ws) => {
            while let Some(Ok(message)) = ws.next().await {
                if let Message::Binary(payload) = message {
                    count_bytes(&stats, payload.len());
                    stats.deliver(i, latency::proto_updated_at(&payload));
                }
            }
            net::reset_on_close(ws.get_ref());
        }
    }
    stats
        .closed
        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
}

/// Adds what one WebSocket message carried to the turn's byte count.
fn count_bytes(stats: &Stats, bytes: usize) {
    stats
        .bytes
        .fetch_add(bytes as u64, std::sync::atomic::Ordering::Relaxed);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expected_deliveries_follow_customers_or_everyone_and_skip_unopened_clients() {
        let addr: SocketAddr = "127.0.0.1:1".parse().unwrap();
        let plan = Plan::new(System::Floor, Mode::PerCustomer, addr, vec![], vec![], 5, 2);
        assert_eq!(plan.customers.len(), 3);
        let acked = |customers: &[usize]| -> Vec<Acked> {
            customers
                .iter()
                .zip(1..)
                .map(|(&customer, sequence)| Acked { customer, sequence })
                .collect()
        };
        let open = [true, true, false, true, true];
        let events = acked(&[0, 0, 2]);
        assert_eq!(plan.expected(&events, &open), vec![2, 2, 0, 0, 1]);
        assert!((plan.fan_out(5) - 5.0 / 3.0).abs() < 1e-9);

        let plan = Plan::new(System::Floor, Mode::Broadcast, addr, vec![], vec![], 3, 1);
        assert_eq!(plan.expected(&events, &[true, false, true]), vec![3, 0, 3]);
        assert_eq!(plan.fan_out(3), 3.0);
    }
}
