//! The shared serve loop's deadlines and caps, on a loopback listener with short timeouts:
//! slow headers are cut, unauthenticated connections idle only as long as the header deadline
//! while authenticated ones keep the idle timeout, slow bodies fail, one address past its share
//! is refused at once, a full unauthenticated cap evicts its oldest waiting connection, and
//! past the connection cap only the probe routes answer.

use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::routing::{get, post};
use orderflow_runtime::limits::HttpLimits;
use orderflow_runtime::serve::{ConnectionAuth, serve};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

const HEADERS: Duration = Duration::from_millis(400);

/// A complete request for the plain route.
const OPEN: &str = "GET /open HTTP/1.1\r\nHost: x\r\n\r\n";

fn limits() -> HttpLimits {
    HttpLimits {
        header_timeout: HEADERS,
        body_timeout: Duration::from_millis(400),
        idle_timeout: Duration::from_secs(3),
        ..HttpLimits::default()
    }
}

async fn start(limits: HttpLimits) -> std::net::SocketAddr {
    let router = Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/open", get(|| async { "hello" }))
        .route(
            "/login",
            get(|auth: ConnectionAuth| async move {
                auth.authenticated();
                "welcome"
            }),
        )
        .route(
            "/upload",
            post(|body: Bytes| async move { body.len().to_string() }),
        );
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(serve(
        listener,
        router,
        limits,
        4096,
        std::future::pending(),
    ));
    addr
}

/// Reads until the server closes; returns what it sent and when it closed.
async fn until_closed(stream: &mut TcpStream, within: Duration) -> (String, Option<Instant>) {
    let mut got = Vec::new();
    let mut buf = [0u8; 1024];
    let deadline = Instant::now() + within;
    loop {
        match tokio::time::timeout_at(deadline.into(), stream.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => {
                return (String::from_utf8_lossy(&got).into(), Some(Instant::now()));
            }
            Ok(Ok(n)) => got.extend_from_slice(&buf[..n]),
            Err(_) => return (String::from_utf8_lossy(&got).into(), None),
        }
    }
}

#[tokio::test]
async fn slow_headers_are_cut_at_the_deadline_however_they_drip() {
    let addr = start(limits()).await;
    let mut slow = TcpStream::connect(addr).await.unwrap();
    let opened = Instant::now();
    slow.write_all(b"GET /open HTTP/1.1\r\n").await.unwrap();
    for _ in 0..3 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let _ = slow.write_all(b"X-Slow: 1\r\n").await;
    }
    let (_, closed) = until_closed(&mut slow, Duration::from_secs(3)).await;
    let lived = closed.expect("the server closes a slow request") - opened;
    assert!(lived >= HEADERS, "closed after {lived:?}");
    assert!(
        lived < HEADERS + Duration::from_millis(500),
        "closed after {lived:?}"
    );
}

#[tokio::test]
async fn only_authenticated_connections_idle_past_the_header_deadline() {
    let addr = start(limits()).await;
    let mut anonymous = TcpStream::connect(addr).await.unwrap();
    anonymous.write_all(OPEN.as_bytes()).await.unwrap();
    let mut known = TcpStream::connect(addr).await.unwrap();
    known
        .write_all(b"GET /login HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let (answer, closed) = until_closed(&mut anonymous, Duration::from_secs(2)).await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(
        closed.is_some(),
        "an idle unauthenticated connection is closed"
    );
    let (answer, closed) = until_closed(&mut known, Duration::from_secs(1)).await;
    assert!(answer.contains("welcome"), "{answer}");
    assert!(
        closed.is_none(),
        "an authenticated one keeps its idle timeout"
    );
    // Still usable.
    known.write_all(OPEN.as_bytes()).await.unwrap();
    let mut buf = [0u8; 256];
    let n = known.read(&mut buf).await.unwrap();
    assert!(String::from_utf8_lossy(&buf[..n]).contains("hello"));
}

#[tokio::test]
async fn a_slow_body_fails_at_the_body_deadline() {
    let addr = start(limits()).await;
    let mut slow = TcpStream::connect(addr).await.unwrap();
    slow.write_all(b"POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nab")
        .await
        .unwrap();
    let opened = Instant::now();
    let (answer, closed) = until_closed(&mut slow, Duration::from_secs(3)).await;
    assert!(closed.is_some(), "closed");
    assert!(
        !answer.starts_with("HTTP/1.1 200"),
        "the handler must not see a complete body: {answer}"
    );
    assert!(opened.elapsed() < Duration::from_secs(2));
}

/// A connection from 127.0.0.2 (all of 127/8 is loopback on Linux).
async fn from_other(addr: std::net::SocketAddr) -> TcpStream {
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind("127.0.0.2:0".parse().unwrap()).unwrap();
    socket.connect(addr).await.unwrap()
}

/// Sends `request` from 127.0.0.2 and returns what the server answers until it closes the
/// connection or `within` passes.
async fn ask_from_other(addr: std::net::SocketAddr, request: &str, within: Duration) -> String {
    let mut stream = from_other(addr).await;
    stream.write_all(request.as_bytes()).await.unwrap();
    until_closed(&mut stream, within).await.0
}

async fn slow(addr: std::net::SocketAddr) -> TcpStream {
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(b"GET /open HTTP/1.1\r\n").await.unwrap();
    s
}

#[tokio::test]
async fn one_address_past_its_share_is_refused_at_once() {
    let addr = start(HttpLimits {
        max_unauthenticated_per_source: 2,
        ..limits()
    })
    .await;
    let _holders = [slow(addr).await, slow(addr).await];
    tokio::time::sleep(Duration::from_millis(50)).await;
    let mut third = TcpStream::connect(addr).await.unwrap();
    let (answer, closed) = until_closed(&mut third, Duration::from_millis(300)).await;
    assert!(closed.is_some(), "refused at once");
    assert!(answer.starts_with("HTTP/1.1 503"), "{answer}");
    // Another address is not affected.
    let answer = ask_from_other(addr, OPEN, Duration::from_secs(1)).await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
}

#[tokio::test]
async fn a_full_unauthenticated_cap_makes_room_by_closing_the_oldest_waiting_connection() {
    let addr = start(HttpLimits {
        max_unauthenticated: 2,
        ..limits()
    })
    .await;
    let mut oldest = slow(addr).await;
    tokio::time::sleep(Duration::from_millis(20)).await;
    let mut younger = slow(addr).await;
    tokio::time::sleep(Duration::from_millis(50)).await;
    let request = "GET /open HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    let answer = ask_from_other(addr, request, Duration::from_millis(200)).await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    let (_, closed) = until_closed(&mut oldest, Duration::from_millis(50)).await;
    assert!(closed.is_some(), "the oldest slow connection made room");
    let (_, closed) = until_closed(&mut younger, Duration::from_millis(100)).await;
    assert!(
        closed.is_none(),
        "the younger one stays (until its deadline)"
    );
}

#[tokio::test]
async fn past_the_connection_cap_only_probes_get_through() {
    let addr = start(HttpLimits {
        max_connections: 2,
        max_unauthenticated: 2,
        ..limits()
    })
    .await;
    let _holders = [slow(addr).await, slow(addr).await];
    tokio::time::sleep(Duration::from_millis(50)).await;
    let probe = "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n";
    let answer = ask_from_other(addr, probe, Duration::from_secs(1)).await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    let answer = ask_from_other(addr, OPEN, Duration::from_secs(1)).await;
    assert!(answer.starts_with("HTTP/1.1 503"), "{answer}");
    assert!(
        answer.to_ascii_lowercase().contains("retry-after: 1"),
        "{answer}"
    );
}
