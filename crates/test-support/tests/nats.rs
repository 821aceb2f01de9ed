//! A single nats-server: core pub/sub, JetStream, and crash + restart keeping stream data.

use std::time::{Duration, Instant};

use async_nats::jetstream::{self, stream};
use futures::StreamExt;
use orderflow_test_support::NatsServer;

/// A JetStream context on `server` with a stream `name` over `subjects`.
async fn with_stream(server: &NatsServer, name: &str, subjects: &str) -> jetstream::Context {
    let js = jetstream::new(async_nats::connect(server.url()).await.unwrap());
    let config = stream::Config {
        name: name.into(),
        subjects: vec![subjects.into()],
        ..Default::default()
    };
    js.create_stream(config).await.unwrap();
    js
}

/// The stream `name` as a new client on `server` sees it.
async fn reopen(server: &NatsServer, name: &str) -> stream::Stream {
    let js = jetstream::new(async_nats::connect(server.url()).await.unwrap());
    js.get_stream(name).await.unwrap()
}

#[tokio::test]
async fn core_publish_reaches_a_subscriber() {
    let started = Instant::now();
    let server = NatsServer::start().await;
    eprintln!("nats-server ready in {:?}", started.elapsed());
    assert!(server.url().ends_with(&format!(":{}", server.port())));

    let client = async_nats::connect(server.url()).await.unwrap();
    let mut sub = client.subscribe("greetings.>").await.unwrap();
    client
        .publish("greetings.en", "hello".into())
        .await
        .unwrap();
    client.flush().await.unwrap();
    let msg = tokio::time::timeout(Duration::from_secs(5), sub.next())
        .await
        .expect("message within 5 s")
        .expect("subscription open");
    assert_eq!(msg.subject.as_str(), "greetings.en");
    assert_eq!(&msg.payload[..], b"hello");
}

#[tokio::test]
async fn jetstream_data_survives_a_crash_and_restart() {
    let mut server = NatsServer::start().await;
    let port = server.port();
    {
        let js = with_stream(&server, "EVENTS", "events.>").await;
        for i in 0..3 {
            let ack = js
                .publish(format!("events.{i}"), format!("payload {i}").into())
                .await
                .unwrap()
                .await
                .unwrap();
            assert_eq!(ack.sequence, i + 1);
        }
    }

    server.kill();
    assert!(!server.is_running());
    assert!(
        async_nats::connect(server.url()).await.is_err(),
        "a killed server must refuse connections"
    );

    let started = Instant::now();
    server.restart().await;
    eprintln!("nats-server restarted in {:?}", started.elapsed());
    assert_eq!(server.port(), port, "restart keeps the port");

    let mut stream = reopen(&server, "EVENTS").await;
    assert_eq!(stream.info().await.unwrap().state.messages, 3);
    let second = stream.get_raw_message(2).await.unwrap();
    assert_eq!(second.subject.as_str(), "events.1");
    assert_eq!(&second.payload[..], b"payload 1");
}

#[tokio::test]
async fn graceful_stop_then_restart_keeps_data_and_drop_removes_the_store() {
    let mut server = NatsServer::start().await;
    let store = server.store_dir();
    {
        let js = with_stream(&server, "KEEP", "keep.>").await;
        js.publish("keep.a", "x".into())
            .await
            .unwrap()
            .await
            .unwrap();
    }
    server.stop().await;
    assert!(!server.is_running());
    server.restart().await;
    let mut stream = reopen(&server, "KEEP").await;
    assert_eq!(stream.info().await.unwrap().state.messages, 1);

    assert!(store.exists());
    drop(server);
    assert!(!store.exists(), "dropping the server removes its store");
}
