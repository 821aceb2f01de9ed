//! The HTTP server loop every service runs instead of `axum::serve`, which sets no deadline on a
//! request's headers, closes no idle connection and logs every `accept` failure: a client that
//! opens connections and sends one header line now and then held them forever, and once the
//! process ran out of descriptors nobody, probes included, could connect.
//!
//! [`serve`] accepts, admits each connection through a [`Gate`] (caps below `RLIMIT_NOFILE`, see
//! [`crate::limits`]), and serves it with hyper's HTTP/1 connection and upgrades (WebSockets),
//! under a per-connection watchdog:
//!
//! - **headers**: a request's headers must be complete within `header_timeout` of the accept, or
//!   of the first byte of a later request on a kept-alive connection;
//! - **body**: the whole body within `body_timeout` of the headers (the read fails after that);
//! - **idle**: a kept-alive connection waits for its next request `idle_timeout` if it has
//!   authenticated, `header_timeout` otherwise;
//! - upgraded connections (WebSockets) leave the watchdog; their protocol has its own deadlines.
//!
//! A connection counts as unauthenticated until a request on it presents valid credentials
//! (the extractors call [`ConnectionAuth::authenticated`]). Past the per-address cap a
//! connection is refused at once; when the unauthenticated cap is full, a waiting connection of
//! the address holding the most is closed to make room; past the connection cap only the probe
//! routes answer (a small headroom), then connections are refused at once. Refusals and expiries are counted in
//! metrics and logged as one summary line per period ([`Storm`]).

use std::collections::VecDeque;
use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::task::{Context, Poll, ready};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::{ConnectInfo, FromRequestParts};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use http::request::Parts;
use http::{Request, StatusCode, header};
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Notify;
use tokio::time::{Instant, Sleep};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tower::ServiceExt;

use crate::Problem;
use crate::limits::{Admission, Cap, Caps, Gate, HttpLimits};
use crate::storm::Storm;

/// How often the summaries of refusals, expiries and accept failures are logged.
const SUMMARY_EVERY: Duration = Duration::from_secs(10);

static REFUSED: Storm = Storm::new(
    "connections refused at a cap (ORDERFLOW_MAX_*)",
    SUMMARY_EVERY,
);
static EXPIRED: Storm = Storm::new(
    "connections closed at an HTTP deadline (ORDERFLOW_HTTP_*_TIMEOUT)",
    SUMMARY_EVERY,
);
static ACCEPT_FAILED: Storm = Storm::new("accept failing", SUMMARY_EVERY);

/// Metric names.
pub mod names {
    /// Gauge: open client connections (probe-only ones excluded).
    pub const OPEN: &str = "http_connections_open";
    /// Gauge: open client connections not authenticated yet.
    pub const UNAUTHENTICATED: &str = "http_connections_unauthenticated";
    /// Counter `{cap}`: connections refused (closed at once, or 503) by a cap.
    pub const REFUSED: &str = "http_connections_refused_total";
    /// Counter `{deadline="headers"|"body"|"idle"}`: connections or bodies cut at a deadline.
    pub const EXPIRED: &str = "http_deadline_expired_total";
    /// Counter `{kind}`: failed `accept` calls (`descriptors` for EMFILE/ENFILE).
    pub const ACCEPT_ERRORS: &str = "http_accept_errors_total";
}

/// Paths a probe-only connection may reach.
const PROBE_PATHS: [&str; 3] = ["/healthz", "/readyz", "/metrics"];

/// Probe-only connections get this long for their headers: a probe sends them at once.
const PROBE_HEADER_TIMEOUT: Duration = Duration::from_secs(2);

/// Connections a flood or a reconnect storm may have waiting for `accept` (the kernel caps it
/// at `net.core.somaxconn`). Tokio's default of 1024 (and std's 128) overflowed under a
/// connection flood, and every overflow costs a legitimate client, or a probe, a one-second SYN
/// retransmission.
pub const ACCEPT_BACKLOG: u32 = 4096;

/// Binds `addr` for [`serve`], with [`ACCEPT_BACKLOG`] (port 0 picks a free port).
pub fn bind(addr: SocketAddr) -> io::Result<TcpListener> {
    let socket = match addr {
        SocketAddr::V4(_) => tokio::net::TcpSocket::new_v4()?,
        SocketAddr::V6(_) => tokio::net::TcpSocket::new_v6()?,
    };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(ACCEPT_BACKLOG)
}

/// Serves `router` on `listener` until `shutdown` resolves; then stops accepting, lets every
/// connection finish its request in flight, and returns once they have closed (upgraded
/// connections are their owner's to close). `nofile` is the descriptor limit the caps derive
/// from ([`crate::limits::raise_nofile_limit`] at start, [`crate::limits::nofile_limit`] in
/// tests).
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: HttpLimits,
    nofile: u64,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    let caps = Caps::resolve(&limits, nofile);
    tracing::info!(
        nofile,
        max_connections = caps.connections,
        max_unauthenticated = caps.unauthenticated,
        max_unauthenticated_per_source = caps.per_source,
        header_timeout_ms = limits.header_timeout.as_millis() as u64,
        idle_timeout_ms = limits.idle_timeout.as_millis() as u64,
        "connection limits"
    );
    let server = Arc::new(Server {
        gate: Gate::new(caps),
        limits,
        router,
        unauthenticated: Mutex::new(VecDeque::new()),
    });
    let stop = CancellationToken::new();
    let tracker = TaskTracker::new();
    {
        let stop = stop.clone();
        tokio::spawn(async move {
            shutdown.await;
            stop.cancel();
        });
    }
    let mut backoff = ACCEPT_BACKOFF_MIN;
    loop {
        let accepted = tokio::select! {
            () = stop.cancelled() => break,
            accepted = listener.accept() => accepted,
        };
        let (stream, peer) = match accepted {
            Ok(pair) => {
                backoff = ACCEPT_BACKOFF_MIN;
                pair
            }
            Err(error) if is_connection_error(&error) => continue,
            Err(error) => {
                // Out of descriptors (or memory): accepting again at once fails again at once.
                // Wait, so the connections that hold them can finish, and say so once per period.
                let kind = if matches!(error.raw_os_error(), Some(24 | 23)) {
                    "descriptors"
                } else {
                    "other"
                };
                metrics::counter!(names::ACCEPT_ERRORS, "kind" => kind).increment(1);
                ACCEPT_FAILED.record(&error);
                tokio::select! {
                    () = stop.cancelled() => break,
                    () = tokio::time::sleep(backoff) => {}
                }
                backoff = (backoff * 2).min(ACCEPT_BACKOFF_MAX);
                continue;
            }
        };
        let trusted = server.limits.is_trusted_proxy(peer.ip());
        let admission = server
            .gate
            .admit(peer.ip(), trusted, || server.evict_oldest());
        if let Admission::Refused(cap) = admission {
            refuse_at_once(stream, cap);
            continue;
        }
        let state = Arc::new(ConnState {
            server: Arc::clone(&server),
            admission,
            authenticated: AtomicBool::new(false),
            phase: AtomicU64::new(encode(Phase::Head, Instant::now())),
            evicted: Notify::new(),
        });
        if matches!(admission, Admission::Normal { .. }) {
            server.queue(&state);
        }
        server.publish_gauges();
        tracker.spawn(Arc::clone(&server).connection(stream, peer, state, stop.clone()));
    }
    tracker.close();
    tracker.wait().await;
    Ok(())
}

const ACCEPT_BACKOFF_MIN: Duration = Duration::from_millis(5);
const ACCEPT_BACKOFF_MAX: Duration = Duration::from_secs(1);

/// Errors of one connection that say nothing about the listener (as hyper 0.14 and axum treat
/// them): accept again at once.
fn is_connection_error(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionRefused
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
    )
}

/// The answer past every cap, written without waiting (the socket's buffer is empty) before
/// the close: a client that reads it backs off instead of retrying blindly.
const REFUSAL: &[u8] = b"HTTP/1.1 503 Service Unavailable\r\ncontent-length: 0\r\nretry-after: 1\r\nconnection: close\r\n\r\n";

fn refuse_at_once(stream: TcpStream, cap: Cap) {
    count_refusal(cap);
    let _ = stream.try_write(REFUSAL);
    // Linger 0 would turn the close into a reset and lose the 503; a plain close is enough,
    // it frees the descriptor now.
    drop(stream);
}

fn count_refusal(cap: Cap) {
    // The hot path of a flood (tens of thousands a second): look the handles up once, not on
    // every refusal as the macro would. The recorder is installed before anything is served.
    static COUNTERS: OnceLock<[metrics::Counter; 3]> = OnceLock::new();
    let counters = COUNTERS.get_or_init(|| {
        [Cap::Connections, Cap::Unauthenticated, Cap::PerSource]
            .map(|c| metrics::counter!(names::REFUSED, "cap" => c.label()))
    });
    let index = match cap {
        Cap::Connections => 0,
        Cap::Unauthenticated => 1,
        Cap::PerSource => 2,
    };
    counters[index].increment(1);
    REFUSED.record(&cap.label());
}

fn count_expiry(deadline: &'static str) {
    metrics::counter!(names::EXPIRED, "deadline" => deadline).increment(1);
    EXPIRED.record(&deadline);
}

struct Server {
    gate: Gate,
    limits: HttpLimits,
    router: Router,
    /// Unauthenticated connections, oldest first (closed and authenticated ones are dropped
    /// lazily), from which [`Server::evict_oldest`] picks.
    unauthenticated: Mutex<VecDeque<Weak<ConnState>>>,
}

impl Server {
    fn publish_gauges(&self) {
        metrics::gauge!(names::OPEN).set(self.gate.open() as f64);
        metrics::gauge!(names::UNAUTHENTICATED).set(self.gate.unauthenticated() as f64);
    }

    fn queue(&self, state: &Arc<ConnState>) {
        let mut queue = self.lock_queue();
        // Keep it near the cap's size: forget the closed and the authenticated.
        if queue.len() >= 2 * self.gate.caps().unauthenticated + 64 {
            queue.retain(|w| {
                w.upgrade()
                    .is_some_and(|s| !s.authenticated.load(Ordering::Relaxed))
            });
        }
        queue.push_back(Arc::downgrade(state));
    }

    /// The unauthenticated cap is full: closes an unauthenticated connection that is waiting
    /// for a request (not one whose request is being handled), so that the newcomer gets its
    /// slot. Among the oldest it picks one of the address holding the most: a slow client holds
    /// its slot for up to the header deadline, a legitimate one for milliseconds, so under a
    /// flood from many addresses the connections closed are the attacker's, and new clients and
    /// probes still get in. Returns whether a slot was freed (at once: the gate counts it as
    /// gone before the socket closes).
    fn evict_oldest(&self) -> bool {
        /// How many of the oldest are considered: enough to find the heaviest address, few
        /// enough to keep a refusal cheap.
        const SCAN: usize = 64;
        let mut queue = self.lock_queue();
        let mut best: Option<(usize, usize)> = None; // (index, connections of its address)
        let mut i = 0;
        let mut seen = 0;
        while i < queue.len() && seen < SCAN {
            let Some(state) = queue[i].upgrade() else {
                queue.remove(i);
                continue;
            };
            if state.authenticated.load(Ordering::Relaxed) {
                queue.remove(i);
                continue;
            }
            if matches!(decode(state.phase()).0, Phase::Head | Phase::Idle) {
                let weight = match state.admission {
                    Admission::Normal { source: Some(ip) } => self.gate.held_by(ip),
                    _ => 0,
                };
                if best.is_none_or(|(_, w)| weight > w) {
                    best = Some((i, weight));
                }
                seen += 1;
            }
            i += 1;
        }
        let Some(state) = best
            .and_then(|(i, _)| queue.remove(i))
            .and_then(|w| w.upgrade())
        else {
            return false;
        };
        drop(queue);
        if state.leave_unauthenticated() {
            state.evicted.notify_one();
            return true;
        }
        false
    }

    fn lock_queue(&self) -> std::sync::MutexGuard<'_, VecDeque<Weak<ConnState>>> {
        self.unauthenticated
            .lock()
            .unwrap_or_else(|e| e.into_inner())
    }

    async fn connection(
        self: Arc<Self>,
        stream: TcpStream,
        peer: SocketAddr,
        state: Arc<ConnState>,
        stop: CancellationToken,
    ) {
        // Hub messages and API answers are small and answered at once: with Nagle on, a second
        // write waits for the client's delayed ACK (40 ms per WebSocket connect, measured).
        let _ = stream.set_nodelay(true);
        let probes_only = matches!(state.admission, Admission::ProbesOnly(_));
        let io = Watched {
            inner: stream,
            state: Arc::clone(&state),
        };
        let service = ConnService {
            state: Arc::clone(&state),
            peer,
            probes_only,
        };
        let header_timeout = if probes_only {
            PROBE_HEADER_TIMEOUT.min(self.limits.header_timeout)
        } else {
            self.limits.header_timeout
        };
        let mut builder = hyper::server::conn::http1::Builder::new();
        builder
            .timer(TokioTimer::new())
            // hyper's own header timer also runs while a kept-alive connection is idle, so it
            // cannot tell the two deadlines apart: the watchdog enforces both, hyper's timer is
            // the backstop behind it.
            .header_read_timeout(self.limits.idle_timeout + header_timeout)
            .keep_alive(!probes_only);
        let conn = builder
            .serve_connection(TokioIo::new(io), TowerToHyperService::new(service))
            .with_upgrades();
        {
            let mut conn = std::pin::pin!(conn);
            let watchdog = watchdog(&state, header_timeout, &self.limits);
            let mut watchdog = std::pin::pin!(watchdog);
            let mut draining = false;
            loop {
                tokio::select! {
                    _ = conn.as_mut() => break,
                    deadline = watchdog.as_mut() => {
                        if deadline == EVICTED {
                            count_refusal(Cap::Unauthenticated);
                        } else {
                            count_expiry(deadline);
                        }
                        break;
                    }
                    () = stop.cancelled(), if !draining => {
                        draining = true;
                        conn.as_mut().graceful_shutdown();
                    }
                }
            }
            // Dropping the connection closes the socket, unless it was upgraded: then the
            // upgraded stream owns it, and the gate's slot is given back when that closes
            // (`ConnState`'s drop).
        }
        drop(state);
        self.publish_gauges();
    }
}

/// Where a connection stands, for the watchdog.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
enum Phase {
    /// Reading a request's headers (since the accept, or a later request's first byte).
    Head = 0,
    /// A request is being handled (its body has its own deadline).
    Busy = 1,
    /// Kept alive, between requests.
    Idle = 2,
    /// Upgraded: no longer HTTP.
    Upgraded = 3,
}

/// Phase and since-when in one atomic word: 2 bits of phase, the rest nanoseconds since the
/// process's first connection (enough for 2^62 ns, 146 years).
fn encode(phase: Phase, at: Instant) -> u64 {
    let nanos = at.saturating_duration_since(epoch()).as_nanos() as u64;
    (nanos << 2) | phase as u64
}

fn decode(word: u64) -> (Phase, Instant) {
    let phase = match word & 3 {
        0 => Phase::Head,
        1 => Phase::Busy,
        2 => Phase::Idle,
        _ => Phase::Upgraded,
    };
    (phase, epoch() + Duration::from_nanos(word >> 2))
}

fn epoch() -> Instant {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    *EPOCH.get_or_init(Instant::now)
}

/// One connection's shared state: its gate slot (given back on drop), whether it has
/// authenticated, and its phase.
struct ConnState {
    server: Arc<Server>,
    admission: Admission,
    /// Out of the unauthenticated pool: authenticated, or evicted from it.
    authenticated: AtomicBool,
    phase: AtomicU64,
    /// Told to close to make room ([`Server::evict_oldest`]).
    evicted: Notify,
}

impl ConnState {
    fn set(&self, phase: Phase) {
        self.phase
            .store(encode(phase, Instant::now()), Ordering::Release);
    }

    fn phase(&self) -> u64 {
        self.phase.load(Ordering::Acquire)
    }

    /// Leaves the unauthenticated pool (once): gives the gate its unauthenticated and
    /// per-source slots back. `false` if it had already left.
    fn leave_unauthenticated(&self) -> bool {
        if self.authenticated.swap(true, Ordering::AcqRel) {
            return false;
        }
        if let Admission::Normal { source } = self.admission {
            self.server.gate.authenticated(source);
            self.server.publish_gauges();
        }
        true
    }
}

/// The watchdog's answer when the connection was evicted rather than late.
const EVICTED: &str = "evicted";

impl Drop for ConnState {
    fn drop(&mut self) {
        self.server
            .gate
            .release(self.admission, *self.authenticated.get_mut());
    }
}

/// Resolves, with the deadline's name, when the connection has overstayed its phase.
async fn watchdog(
    state: &ConnState,
    header_timeout: Duration,
    limits: &HttpLimits,
) -> &'static str {
    loop {
        let word = state.phase();
        let (phase, since) = decode(word);
        let (deadline, name) = match phase {
            Phase::Head => (since + header_timeout, "headers"),
            Phase::Idle if state.authenticated.load(Ordering::Relaxed) => {
                (since + limits.idle_timeout, "idle")
            }
            Phase::Idle => (since + header_timeout, "idle"),
            // Nothing to enforce now; look again later.
            Phase::Busy | Phase::Upgraded => (Instant::now() + header_timeout, ""),
        };
        tokio::select! {
            () = tokio::time::sleep_until(deadline) => {}
            () = state.evicted.notified() => return EVICTED,
        }
        if !name.is_empty() && state.phase() == word {
            return name;
        }
    }
}

/// The socket, noting the first byte of a request that arrives on an idle connection (its
/// header deadline starts there) and owning the connection's state, so that the gate's slot
/// lives exactly as long as the socket, upgraded or not.
struct Watched {
    inner: TcpStream,
    state: Arc<ConnState>,
}

impl AsyncRead for Watched {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        if buf.filled().len() > before {
            let word = self.state.phase();
            if decode(word).0 == Phase::Idle {
                let _ = self.state.phase.compare_exchange(
                    word,
                    encode(Phase::Head, Instant::now()),
                    Ordering::AcqRel,
                    Ordering::Relaxed,
                );
            }
        }
        polled
    }
}

impl AsyncWrite for Watched {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

/// The per-connection service: marks the phases, hands requests to the router with the peer
/// address (`ConnectInfo<SocketAddr>`) and a [`ConnectionAuth`], and puts the body deadline on
/// request bodies.
#[derive(Clone)]
struct ConnService {
    state: Arc<ConnState>,
    peer: SocketAddr,
    probes_only: bool,
}

impl tower::Service<Request<Incoming>> for ConnService {
    type Response = Response;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Response, Infallible>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request<Incoming>) -> Self::Future {
        let state = Arc::clone(&self.state);
        state.set(Phase::Busy);
        if self.probes_only && !PROBE_PATHS.contains(&request.uri().path()) {
            if let Admission::ProbesOnly(cap) = state.admission {
                count_refusal(cap);
            }
            state.set(Phase::Idle);
            return Box::pin(std::future::ready(Ok(overloaded())));
        }
        let (mut parts, body) = request.into_parts();
        parts.extensions.insert(ConnectInfo(self.peer));
        parts
            .extensions
            .insert(ConnectionAuth(Some(Arc::clone(&state))));
        let body = if http_body::Body::is_end_stream(&body) {
            Body::new(body)
        } else {
            Body::new(DeadlineBody {
                inner: body,
                deadline: Box::pin(tokio::time::sleep(state.server.limits.body_timeout)),
            })
        };
        let router = state.server.router.clone();
        Box::pin(async move {
            let response = router
                .oneshot(Request::from_parts(parts, body))
                .await
                .unwrap_or_else(|never| match never {});
            state.set(if response.status() == StatusCode::SWITCHING_PROTOCOLS {
                Phase::Upgraded
            } else {
                Phase::Idle
            });
            Ok(response)
        })
    }
}

fn overloaded() -> Response {
    let mut response = Problem::new(crate::problem::codes::OVERLOADED)
        .detail("Too many connections; try again shortly.")
        .into_response();
    let headers = response.headers_mut();
    headers.insert(header::RETRY_AFTER, http::HeaderValue::from_static("1"));
    headers.insert(header::CONNECTION, http::HeaderValue::from_static("close"));
    response
}

/// A request body that must be complete within the body timeout of its headers.
struct DeadlineBody {
    inner: Incoming,
    deadline: Pin<Box<Sleep>>,
}

/// The body did not arrive in time.
#[derive(Debug)]
pub struct BodyDeadline;

impl std::fmt::Display for BodyDeadline {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("request body not received within ORDERFLOW_HTTP_BODY_TIMEOUT")
    }
}

impl std::error::Error for BodyDeadline {}

impl http_body::Body for DeadlineBody {
    type Data = Bytes;
    type Error = axum::BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, Self::Error>>> {
        if let Poll::Ready(frame) = Pin::new(&mut self.inner).poll_frame(cx) {
            return Poll::Ready(frame.map(|f| f.map_err(Into::into)));
        }
        ready!(self.deadline.as_mut().poll(cx));
        count_expiry("body");
        Poll::Ready(Some(Err(BodyDeadline.into())))
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}

/// The connection a request came on, as far as authentication is concerned. Whatever
/// authenticates a request calls [`ConnectionAuth::authenticated`], which moves the connection
/// out of the unauthenticated caps and gives it the longer idle timeout. Extracting it never
/// fails: outside [`serve`] (tests with other servers) it does nothing.
#[derive(Clone, Default)]
pub struct ConnectionAuth(Option<Arc<ConnState>>);

impl ConnectionAuth {
    /// The request's handle, from its extensions.
    pub fn of(extensions: &http::Extensions) -> ConnectionAuth {
        extensions
            .get::<ConnectionAuth>()
            .cloned()
            .unwrap_or_default()
    }

    /// A request on this connection presented valid credentials.
    pub fn authenticated(&self) {
        if let Some(state) = &self.0 {
            state.leave_unauthenticated();
        }
    }
}

impl<S: Send + Sync> FromRequestParts<S> for ConnectionAuth {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Infallible> {
        Ok(ConnectionAuth::of(&parts.extensions))
    }
}
