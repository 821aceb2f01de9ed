//! Shared set-up for the gateway's integration tests: a real nats-server with the real streams,
//! a gateway on a free port, tokens from the development issuer, real protobuf events published
//! to JetStream, and a small raw SignalR client over tokio-tungstenite for wire-level checks.

#![allow(dead_code)]

use std::net::SocketAddr;
use std::time::Duration;

use async_nats::jetstream;
use futures::{SinkExt, StreamExt};
use orderflow_auth::AuthSettings;
use orderflow_auth::dev::{self, DevClaims};
use orderflow_events::inventory::v1::StockLevelChanged;
use orderflow_events::orders::v1::{OrderCreated, OrderStatus, OrderStatusChanged};
use orderflow_events::{Event, common::v1::EventMetadata, headers, timestamp};
use orderflow_gateway::app::AppState;
use orderflow_gateway::{Gateway, GatewaySettings};
use orderflow_test_support::NatsServer;
use orderflow_test_support::proxy::TcpProxy;
use serde_json::Value;
use time::OffsetDateTime;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::{self, Message};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};
use uuid::Uuid;

pub const ORIGIN: &str = "http://app.test";

/// NATS with streams plus one running gateway.
pub struct Env {
    pub nats: NatsServer,
    /// Between the gateway and NATS, when the test partitions that link.
    pub proxy: Option<TcpProxy>,
    pub js: jetstream::Context,
    pub addr: SocketAddr,
    pub state: AppState,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    pub done: Option<tokio::task::JoinHandle<()>>,
}

pub fn settings(nats_url: String) -> GatewaySettings {
    GatewaySettings::for_tests(nats_url, AuthSettings::dev(), vec![ORIGIN.to_owned()])
}

impl Env {
    pub async fn start() -> Env {
        Self::start_with(|_| {}).await
    }

    pub async fn start_with(tweak: impl FnOnce(&mut GatewaySettings)) -> Env {
        Self::launch(false, tweak).await
    }

    /// A gateway that reaches NATS through a [`TcpProxy`] the test can pause or cut.
    pub async fn start_behind_proxy() -> Env {
        Self::launch(true, |_| {}).await
    }

    /// [`Env::start_behind_proxy`] with `tweak`ed settings.
    pub async fn start_behind_proxy_with(tweak: impl FnOnce(&mut GatewaySettings)) -> Env {
        Self::launch(true, tweak).await
    }

    async fn launch(proxied: bool, tweak: impl FnOnce(&mut GatewaySettings)) -> Env {
        let nats = NatsServer::start().await;
        let client = async_nats::connect(nats.url()).await.unwrap();
        let js = jetstream::new(client);
        orderflow_outbox::ensure_streams(&js, &orderflow_outbox::StreamSettings::default())
            .await
            .unwrap();
        let proxy = if proxied {
            let target = SocketAddr::from(([127, 0, 0, 1], nats.port()));
            Some(TcpProxy::start(target).await.unwrap())
        } else {
            None
        };
        let url = proxy
            .as_ref()
            .map_or_else(|| nats.url(), TcpProxy::nats_url);
        let mut s = settings(url);
        tweak(&mut s);
        let (addr, state, stop, done) = start_gateway(s).await;
        Env {
            nats,
            proxy,
            js,
            addr,
            state,
            stop: Some(stop),
            done: Some(done),
        }
    }

    /// A second gateway on the same NATS, with `tweak`ed settings (the same token key unless
    /// the tweak changes it): what a client meets when a load balancer sends it elsewhere.
    pub async fn another_gateway(
        &self,
        tweak: impl FnOnce(&mut GatewaySettings),
    ) -> (
        SocketAddr,
        AppState,
        tokio::sync::oneshot::Sender<()>,
        tokio::task::JoinHandle<()>,
    ) {
        let mut s = settings(self.nats.url());
        tweak(&mut s);
        start_gateway(s).await
    }

    /// Publishes an update of a new order of `customer`; its stream sequence.
    pub async fn new_order_update(&self, customer: Uuid) -> u64 {
        publish(&self.js, &new_order_update(customer)).await
    }

    /// Publishes a status change of `customer`'s order `order` (`ORD-1`); its stream sequence.
    pub async fn order_update(
        &self,
        customer: Uuid,
        order: Uuid,
        old: OrderStatus,
        new: OrderStatus,
    ) -> u64 {
        publish(
            &self.js,
            &status_changed(customer, order, "ORD-1", old, new),
        )
        .await
    }

    /// Triggers the drain, as SIGTERM does.
    pub fn shutdown(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

pub async fn start_gateway(
    s: GatewaySettings,
) -> (
    SocketAddr,
    AppState,
    tokio::sync::oneshot::Sender<()>,
    tokio::task::JoinHandle<()>,
) {
    let gateway = Gateway::build(s).await.unwrap();
    let addr = gateway.local_addr();
    let state = gateway.state();
    // Connections are refused until both live feeds know where their streams stand.
    for _ in 0..200 {
        if state.is_ready() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert!(state.is_ready(), "the gateway's live feeds did not start");
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let done = tokio::spawn(async move {
        gateway
            .run(async move {
                let _ = stopped.await;
            })
            .await
            .unwrap();
    });
    (addr, state, stop, done)
}

pub fn token(user: Uuid, admin: bool) -> String {
    let mut claims = DevClaims::new(user).name("Test User");
    if admin {
        claims = claims.role("Admin");
    }
    dev::issue_hs256(dev::SECRET, claims)
}

fn meta(aggregate: Uuid) -> Option<EventMetadata> {
    Some(EventMetadata::new(aggregate, 1, OffsetDateTime::now_utc()))
}

/// Publishes an event the way the outbox relay does; returns its stream sequence.
pub async fn publish<E: Event>(js: &jetstream::Context, event: &E) -> u64 {
    publish_checked(js, event)
        .await
        .expect("publish acknowledged")
}

/// [`publish`], with `None` when JetStream does not acknowledge (NATS down or restarting). The
/// `Nats-Msg-Id` header makes a retry of the same event a no-op if the first one was stored.
pub async fn publish_checked<E: Event>(js: &jetstream::Context, event: &E) -> Option<u64> {
    let mut map = async_nats::HeaderMap::new();
    for (name, value) in headers::for_event(event).unwrap() {
        map.insert(name, value.as_str());
    }
    let payload = prost::Message::encode_to_vec(event);
    let ack = js
        .publish_with_headers(event.subject().unwrap(), map, payload.into())
        .await
        .ok()?;
    Some(ack.await.ok()?.sequence)
}

pub fn status_changed(
    customer: Uuid,
    order: Uuid,
    number: &str,
    old: OrderStatus,
    new: OrderStatus,
) -> OrderStatusChanged {
    OrderStatusChanged {
        metadata: meta(order),
        order_id: order.to_string(),
        order_number: number.to_owned(),
        customer_id: customer.to_string(),
        old_status: old as i32,
        new_status: new as i32,
        updated_at: Some(timestamp::to_timestamp(OffsetDateTime::now_utc())),
        reason: String::new(),
    }
}

/// An update of a new order of `customer` (Draft to Confirmed): the event most tests need, when
/// only whose it is and where it lands in the stream matter.
pub fn new_order_update(customer: Uuid) -> OrderStatusChanged {
    status_changed(
        customer,
        Uuid::now_v7(),
        "ORD-1",
        OrderStatus::Draft,
        OrderStatus::Confirmed,
    )
}

pub fn created(customer: Uuid, order: Uuid, number: &str, total_minor: i64) -> OrderCreated {
    OrderCreated {
        metadata: meta(order),
        order_id: order.to_string(),
        order_number: number.to_owned(),
        customer_id: customer.to_string(),
        customer_name: "Ada Lovelace".into(),
        total_minor,
        currency: "EUR".into(),
        created_at: Some(timestamp::to_timestamp(OffsetDateTime::now_utc())),
        ..Default::default()
    }
}

pub fn stock(sku: &str, old: i64, new: i64, threshold: i64) -> StockLevelChanged {
    let product = Uuid::now_v7();
    StockLevelChanged {
        metadata: meta(product),
        product_id: product.to_string(),
        sku: sku.to_owned(),
        old_level: old,
        new_level: new,
        threshold,
        reason: "test".into(),
        order_id: String::new(),
    }
}

pub type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// A raw SignalR client speaking the JSON protocol, for wire-level assertions.
pub struct RawClient {
    pub ws: Ws,
    pub token: String,
    pub connection_token: String,
    next_id: u64,
    /// Records received but not handed out yet.
    pending: std::collections::VecDeque<Value>,
}

pub async fn negotiate(addr: SocketAddr, jwt: &str, stateful: bool) -> reqwest::Response {
    let mut url = format!("http://{addr}/hubs/orders/negotiate?negotiateVersion=1");
    if stateful {
        url.push_str("&useStatefulReconnect=true");
    }
    orderflow_runtime::http::client()
        .post(url)
        .bearer_auth(jwt)
        .send()
        .await
        .unwrap()
}

/// A connection token from a version 1 negotiate (not stateful).
pub async fn connection_token(addr: SocketAddr, jwt: &str) -> String {
    let body: Value = negotiate(addr, jwt, false).await.json().await.unwrap();
    body["connectionToken"].as_str().unwrap().to_owned()
}

/// The status a socket for connection token `id` opened with `jwt` is refused with; `None` if
/// it opens.
pub async fn refusal(addr: SocketAddr, id: &str, jwt: &str) -> Option<u16> {
    open_socket(addr, &format!("id={id}"), Some(jwt), None)
        .await
        .err()
}

/// Opens the WebSocket; `Err` carries the HTTP status when the upgrade was refused.
pub async fn open_socket(
    addr: SocketAddr,
    query: &str,
    jwt: Option<&str>,
    origin: Option<&str>,
) -> Result<Ws, u16> {
    let mut request = format!("ws://{addr}/hubs/orders?{query}")
        .into_client_request()
        .unwrap();
    if let Some(jwt) = jwt {
        request
            .headers_mut()
            .insert("Authorization", format!("Bearer {jwt}").parse().unwrap());
    }
    if let Some(origin) = origin {
        request
            .headers_mut()
            .insert("Origin", origin.parse().unwrap());
    }
    match tokio_tungstenite::connect_async(request).await {
        Ok((ws, _)) => Ok(ws),
        Err(tungstenite::Error::Http(response)) => Err(response.status().as_u16()),
        Err(other) => panic!("unexpected upgrade error: {other}"),
    }
}

impl RawClient {
    pub async fn connect(addr: SocketAddr, jwt: &str) -> RawClient {
        Self::connect_with(addr, jwt, false).await
    }

    pub async fn connect_with(addr: SocketAddr, jwt: &str, stateful: bool) -> RawClient {
        Self::connect_to(addr, addr, jwt, stateful, "").await
    }

    /// Connects with `extra` hub URL parameters (`resume=…&dashboard=true`): negotiates with
    /// the gateway at `negotiate_at` and opens the socket on the one at `addr`.
    pub async fn connect_to(
        negotiate_at: SocketAddr,
        addr: SocketAddr,
        jwt: &str,
        stateful: bool,
        extra: &str,
    ) -> RawClient {
        let body: Value = negotiate(negotiate_at, jwt, stateful)
            .await
            .json()
            .await
            .unwrap();
        let connection_token = body["connectionToken"].as_str().unwrap().to_owned();
        let query = format!("id={connection_token}&{extra}");
        let mut ws = open_socket(addr, &query, Some(jwt), None).await.unwrap();
        let version = if stateful { 2 } else { 1 };
        ws.send(Message::text(format!(
            "{{\"protocol\":\"json\",\"version\":{version}}}\u{1e}"
        )))
        .await
        .unwrap();
        let answer = next_text(&mut ws).await.expect("handshake answer");
        assert_eq!(answer, "{}\u{1e}", "handshake response alone in its frame");
        ws.send(Message::text("{\"type\":6}\u{1e}")).await.unwrap();
        RawClient {
            ws,
            token: jwt.to_owned(),
            connection_token,
            next_id: 0,
            pending: std::collections::VecDeque::new(),
        }
    }

    pub async fn send_raw(&mut self, text: &str) {
        self.ws.send(Message::text(text.to_owned())).await.unwrap();
    }

    /// Invokes a hub method and returns its Completion, collecting other messages meanwhile.
    pub async fn invoke(&mut self, target: &str, args: Value) -> (Value, Vec<Value>) {
        let id = self.next_id.to_string();
        self.next_id += 1;
        let record =
            serde_json::json!({"type":1,"invocationId":id,"target":target,"arguments":args});
        self.send_raw(&format!("{record}\u{1e}")).await;
        let mut others = Vec::new();
        loop {
            let m = self
                .next_message(Duration::from_secs(10))
                .await
                .expect("completion");
            if m["type"] == 3 && m["invocationId"] == id.as_str() {
                return (m, others);
            }
            others.push(m);
        }
    }

    /// The next non-ping hub message, or `None` on timeout or close. One WebSocket message may
    /// carry several records (the gateway writes what is queued together); they come out one
    /// by one.
    pub async fn next_message(&mut self, wait: Duration) -> Option<Value> {
        loop {
            if let Some(m) = self.pending.pop_front() {
                return Some(m);
            }
            let text = tokio::time::timeout(wait, next_text(&mut self.ws))
                .await
                .ok()??;
            self.pending.extend(
                text.strip_suffix('\u{1e}')
                    .expect("frames end on a record separator")
                    .split('\u{1e}')
                    .map(|r| serde_json::from_str::<Value>(r).unwrap())
                    .filter(|m| m["type"] != 6),
            );
        }
    }

    /// Invocations (type 1) received within `wait`, as `(target, argument)`.
    pub async fn collect(&mut self, wait: Duration) -> Vec<(String, Value)> {
        let mut out = Vec::new();
        let deadline = tokio::time::Instant::now() + wait;
        while let Some(m) = self
            .next_message(deadline.saturating_duration_since(tokio::time::Instant::now()))
            .await
        {
            if m["type"] == 1 {
                out.push((
                    m["target"].as_str().unwrap().to_owned(),
                    m["arguments"][0].clone(),
                ));
            }
        }
        out
    }
}

/// The next text frame, `None` when the socket closes.
pub async fn next_text(ws: &mut Ws) -> Option<String> {
    loop {
        match ws.next().await? {
            Ok(Message::Text(t)) => return Some(t.to_string()),
            Ok(Message::Close(_)) | Err(_) => return None,
            Ok(_) => {}
        }
    }
}

/// Waits until `check` holds, polling (for state that settles asynchronously).
pub async fn eventually<F, Fut>(mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    for _ in 0..100 {
        if check().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("condition not reached in 5 s");
}

/// Waits until `check` holds for a gateway's state (groups, connections and the NATS link
/// settle asynchronously).
pub async fn until(state: &AppState, check: impl Fn(&AppState) -> bool) {
    eventually(|| std::future::ready(check(state))).await;
}
