//! The live feed's subscription on its own, against a real nats-server: the direct link reads
//! what the general client reads, logs in with the URL's credentials, says when it is linked
//! again after a restart, and hands over to the general client when the server wants TLS.

use std::time::Duration;

use async_nats::HeaderMap;
use orderflow_gateway::live_link::{Arrival, LinkKind, Live, LiveMessage};
use orderflow_test_support::NatsServer;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const WAIT: Duration = Duration::from_secs(15);

/// What the feed reads of a message, owned.
#[derive(Debug, PartialEq)]
struct Seen {
    subject: String,
    stream: Option<String>,
    sequence: Option<String>,
    schema: Option<String>,
    traceparent: Option<String>,
    payload: Vec<u8>,
}

impl From<LiveMessage<'_>> for Seen {
    fn from(m: LiveMessage<'_>) -> Seen {
        let own = |v: Option<&str>| v.map(str::to_owned);
        Seen {
            subject: m.subject.to_owned(),
            stream: own(m.headers.stream),
            sequence: own(m.headers.sequence),
            schema: own(m.headers.schema),
            traceparent: own(m.headers.traceparent),
            payload: m.payload.to_vec(),
        }
    }
}

/// A subscription to the test subjects `live.t.>`.
fn subscription(kind: LinkKind, urls: &str, client: async_nats::Client) -> Live {
    Live::new(kind, urls, client, "live.t.>".into())
}

async fn linked(live: &mut Live) {
    match tokio::time::timeout(WAIT, live.next()).await {
        Ok(Some(Arrival::Linked)) => {}
        Ok(Some(Arrival::Message(m))) => panic!("a message before the link: {}", m.subject),
        Ok(None) => panic!("the client is gone"),
        Err(_) => panic!("not linked in {WAIT:?}"),
    }
}

async fn message(live: &mut Live) -> Seen {
    match tokio::time::timeout(WAIT, live.next()).await {
        Ok(Some(Arrival::Message(m))) => m.into(),
        Ok(Some(Arrival::Linked)) => panic!("relinked instead of a message"),
        Ok(None) => panic!("the client is gone"),
        Err(_) => panic!("no message in {WAIT:?}"),
    }
}

async fn publish(client: &async_nats::Client, subject: &str, sequence: u64) {
    let mut headers = HeaderMap::new();
    headers.insert("Nats-Stream", "ORDERS");
    headers.insert("Nats-Sequence", sequence.to_string().as_str());
    headers.insert("Orderflow-Schema", "orderflow.orders.v1.OrderCreated");
    headers.insert(
        "traceparent",
        "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
    );
    headers.insert("Nats-Subject", "orders.v1.c.created");
    let payload = format!("payload {sequence}").into_bytes();
    client
        .publish_with_headers(subject.to_owned(), headers, payload.into())
        .await
        .unwrap();
    client.flush().await.unwrap();
}

#[tokio::test]
async fn both_links_read_the_same_message_the_same_way() {
    let nats = NatsServer::start().await;
    let client = async_nats::connect(nats.url()).await.unwrap();
    let mut direct = subscription(LinkKind::Direct, &nats.url(), client.clone());
    let mut general = subscription(LinkKind::Client, &nats.url(), client.clone());
    linked(&mut direct).await;
    linked(&mut general).await;
    assert!(direct.is_direct() && !general.is_direct());
    for sequence in 1..=3 {
        publish(&client, "live.t.x", sequence).await;
    }
    for sequence in 1..=3 {
        let seen = message(&mut direct).await;
        assert_eq!(seen.sequence.as_deref(), Some(&*sequence.to_string()));
        assert_eq!(seen.stream.as_deref(), Some("ORDERS"));
        assert_eq!(
            seen.schema.as_deref(),
            Some("orderflow.orders.v1.OrderCreated")
        );
        assert!(seen.traceparent.is_some());
        assert_eq!(seen.payload, format!("payload {sequence}").into_bytes());
        assert_eq!(message(&mut general).await, seen);
    }
}

#[tokio::test]
async fn both_links_log_in_with_the_urls_user_and_password() {
    let nats = NatsServer::start_with_user("gateway", "s3cr@t").await;
    // Percent-encoded in the URL, as a password with an `@` must be.
    let url = format!("nats://gateway:s3cr%40t@127.0.0.1:{}", nats.port());
    let client = orderflow_runtime::connect::nats(&url, "test")
        .await
        .unwrap();
    let mut live = subscription(LinkKind::Direct, &url, client.clone());
    linked(&mut live).await;
    publish(&client, "live.t.y", 7).await;
    assert_eq!(message(&mut live).await.sequence.as_deref(), Some("7"));

    // A wrong password never links (and never falls back to the general client).
    let wrong = format!("nats://gateway:wrong@127.0.0.1:{}", nats.port());
    let mut refused = subscription(LinkKind::Direct, &wrong, client);
    let attempt = tokio::time::timeout(Duration::from_secs(2), refused.next()).await;
    assert!(attempt.is_err(), "linked with a wrong password");
    assert!(refused.is_direct());
}

#[tokio::test]
async fn the_direct_link_says_it_is_linked_again_after_a_restart() {
    let mut nats = NatsServer::start().await;
    let client = async_nats::connect(nats.url()).await.unwrap();
    let mut live = subscription(LinkKind::Direct, &nats.url(), client.clone());
    linked(&mut live).await;
    nats.kill();
    nats.restart().await;
    // The feed learns of the new link, which is its cue to look for what it missed.
    linked(&mut live).await;
    let publisher = async_nats::connect(nats.url()).await.unwrap();
    publish(&publisher, "live.t.z", 9).await;
    assert_eq!(message(&mut live).await.sequence.as_deref(), Some("9"));
}

#[tokio::test]
async fn a_server_that_requires_tls_hands_the_feed_to_the_general_client() {
    let nats = NatsServer::start().await;
    let client = async_nats::connect(nats.url()).await.unwrap();
    // What a TLS-only nats-server says first.
    let tls_only = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let tls_url = format!("nats://{}", tls_only.local_addr().unwrap());
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = tls_only.accept().await {
            tokio::spawn(async move {
                let info =
                    b"INFO {\"tls_required\":true,\"headers\":true,\"max_payload\":1048576}\r\n";
                let _ = socket.write_all(info).await;
                let _ = socket.read(&mut [0; 64]).await;
            });
        }
    });
    let mut live = subscription(LinkKind::Direct, &tls_url, client.clone());
    linked(&mut live).await;
    assert!(!live.is_direct());
    publish(&client, "live.t.w", 4).await;
    assert_eq!(message(&mut live).await.sequence.as_deref(), Some("4"));
}
