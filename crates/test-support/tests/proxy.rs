//! The partitioning proxy: bytes flow, a pause holds them without closing anything, a cut
//! resets current and new connections until restored; and a real NATS client behind it sees a
//! pause as late delivery and a cut as a reconnect.

use std::net::SocketAddr;
use std::time::Duration;

use futures::StreamExt;
use orderflow_test_support::NatsServer;
use orderflow_test_support::proxy::TcpProxy;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// A TCP echo server on a loopback port, the simplest real peer.
async fn echo_server() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            tokio::spawn(async move {
                let (mut r, mut w) = socket.split();
                let _ = tokio::io::copy(&mut r, &mut w).await;
            });
        }
    });
    addr
}

/// Reads exactly `n` bytes within `within`, or `None`.
async fn read_n(stream: &mut TcpStream, n: usize, within: Duration) -> Option<Vec<u8>> {
    let mut buf = vec![0; n];
    match tokio::time::timeout(within, stream.read_exact(&mut buf)).await {
        Ok(Ok(_)) => Some(buf),
        _ => None,
    }
}

/// Whether the peer closed or reset the stream within `within`.
async fn closed_within(stream: &mut TcpStream, within: Duration) -> bool {
    let mut buf = [0u8; 16];
    matches!(
        tokio::time::timeout(within, stream.read(&mut buf)).await,
        Ok(Ok(0) | Err(_))
    )
}

const SHORT: Duration = Duration::from_millis(300);
const LONG: Duration = Duration::from_secs(5);

/// A proxy in front of an echo server and a connection through it that has echoed `first`.
async fn proxied_echo(first: &[u8]) -> (TcpProxy, TcpStream) {
    let proxy = TcpProxy::start(echo_server().await).await.unwrap();
    let mut stream = TcpStream::connect(proxy.addr()).await.unwrap();
    stream.write_all(first).await.unwrap();
    assert_eq!(read_n(&mut stream, first.len(), LONG).await.unwrap(), first);
    (proxy, stream)
}

#[tokio::test]
async fn forwards_and_a_pause_holds_bytes_until_resumed() {
    let (proxy, mut stream) = proxied_echo(b"ping").await;
    assert_eq!(proxy.connections(), 1);

    proxy.pause();
    stream.write_all(b"held").await.unwrap();
    assert_eq!(
        read_n(&mut stream, 4, SHORT).await,
        None,
        "bytes crossed a pause"
    );
    // A connection opened during the pause is accepted but goes nowhere either.
    let mut late = TcpStream::connect(proxy.addr()).await.unwrap();
    late.write_all(b"late").await.unwrap();
    assert_eq!(read_n(&mut late, 4, SHORT).await, None);
    assert_eq!(proxy.connections(), 1, "connected upstream during a pause");

    proxy.resume();
    assert_eq!(read_n(&mut stream, 4, LONG).await.unwrap(), b"held");
    assert_eq!(read_n(&mut late, 4, LONG).await.unwrap(), b"late");
    assert_eq!(proxy.connections(), 2);
}

#[tokio::test]
async fn a_cut_resets_connections_until_restored() {
    let (proxy, mut stream) = proxied_echo(b"one").await;

    proxy.cut();
    assert!(closed_within(&mut stream, LONG).await, "survived a cut");
    // New connections are refused (reset right after accept) while cut.
    if let Ok(mut refused) = TcpStream::connect(proxy.addr()).await {
        assert!(
            closed_within(&mut refused, LONG).await,
            "accepted while cut"
        );
    }
    let deadline = tokio::time::Instant::now() + LONG;
    while proxy.connections() > 0 {
        assert!(tokio::time::Instant::now() < deadline, "connections left");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }

    proxy.restore();
    let mut again = TcpStream::connect(proxy.addr()).await.unwrap();
    again.write_all(b"two").await.unwrap();
    assert_eq!(read_n(&mut again, 3, LONG).await.unwrap(), b"two");
}

#[tokio::test]
async fn a_pause_and_a_cut_between_nats_and_a_subscriber() {
    let nats = NatsServer::start().await;
    let proxy = TcpProxy::start(([127, 0, 0, 1], nats.port()).into())
        .await
        .unwrap();
    let behind = async_nats::ConnectOptions::new()
        .retry_on_initial_connect()
        .connect(proxy.nats_url())
        .await
        .unwrap();
    let mut sub = behind.subscribe("events.>").await.unwrap();
    behind.flush().await.unwrap();
    let direct = async_nats::connect(nats.url()).await.unwrap();
    let publish = |n: u32| {
        let direct = direct.clone();
        async move {
            direct
                .publish(format!("events.{n}"), "x".into())
                .await
                .unwrap();
            direct.flush().await.unwrap();
        }
    };

    publish(1).await;
    let first = tokio::time::timeout(LONG, sub.next()).await.unwrap();
    assert_eq!(first.unwrap().subject.as_str(), "events.1");

    // Paused: the server has sent the message, but it waits in the proxy and kernel buffers.
    proxy.pause();
    publish(2).await;
    assert!(
        tokio::time::timeout(SHORT, sub.next()).await.is_err(),
        "a message crossed the pause"
    );
    proxy.resume();
    let held = tokio::time::timeout(LONG, sub.next()).await.unwrap();
    assert_eq!(held.unwrap().subject.as_str(), "events.2");

    // Cut: the client loses its connection and reconnects once the link is restored.
    proxy.cut();
    let deadline = tokio::time::Instant::now() + LONG;
    while behind.connection_state() == async_nats::connection::State::Connected {
        assert!(
            tokio::time::Instant::now() < deadline,
            "never noticed the cut"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    proxy.restore();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    while behind.connection_state() != async_nats::connection::State::Connected {
        assert!(tokio::time::Instant::now() < deadline, "never reconnected");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    behind.flush().await.unwrap();
    publish(3).await;
    let after = tokio::time::timeout(LONG, sub.next()).await.unwrap();
    assert_eq!(after.unwrap().subject.as_str(), "events.3");
}
