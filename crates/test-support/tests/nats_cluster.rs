//! A 3-node JetStream cluster: leader election, replicated streams, losing and regaining a node.

use std::time::{Duration, Instant};

use async_nats::jetstream::{self, stream};
use orderflow_test_support::NatsCluster;

#[tokio::test]
async fn replicated_stream_survives_losing_a_node() {
    let started = Instant::now();
    let mut cluster = NatsCluster::start(3).await;
    eprintln!("3-node nats cluster ready in {:?}", started.elapsed());
    assert_eq!(cluster.len(), 3);
    assert_eq!(cluster.node(0).name(), "n1");
    let leader = cluster.wait_for_meta_leader().await;
    assert!(["n1", "n2", "n3"].contains(&leader.as_str()));

    let client = async_nats::connect(cluster.urls()).await.unwrap();
    let js = jetstream::new(client);
    js.create_stream(stream::Config {
        name: "R3".into(),
        subjects: vec!["r3.>".into()],
        num_replicas: 3,
        ..Default::default()
    })
    .await
    .unwrap();
    // The stream's own group elects its leader just after it is created.
    let ack = publish_until_acknowledged(&js, "r3.a", "before").await;
    assert_eq!(ack.sequence, 1);

    // Kill the meta leader: the hardest node to lose.
    let victim = (0..3).find(|&i| cluster.node(i).name() == leader).unwrap();
    cluster.kill(victim);
    let new_leader = cluster.wait_for_meta_leader().await;
    assert_ne!(new_leader, leader, "a dead node cannot stay leader");

    // The stream may need a moment to elect its own new leader.
    let ack = publish_until_acknowledged(&js, "r3.b", "after").await;
    assert_eq!(ack.sequence, 2);

    cluster.restart(victim).await;
    let mut stream = js.get_stream("R3").await.unwrap();
    let info = stream.info().await.unwrap();
    assert_eq!(info.state.messages, 2);
    assert_eq!(info.config.num_replicas, 3);
}

/// Publishes until JetStream acknowledges, for up to 30 s: a replicated stream cannot take
/// messages while its group elects a leader (just after it is created, or after losing one).
async fn publish_until_acknowledged(
    js: &jetstream::Context,
    subject: &'static str,
    payload: &'static str,
) -> jetstream::publish::PublishAck {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let outcome = match js.publish(subject, payload.into()).await {
            Ok(future) => future.await.map_err(|e| e.to_string()),
            Err(e) => Err(e.to_string()),
        };
        match outcome {
            Ok(ack) => return ack,
            Err(e) if Instant::now() < deadline => eprintln!("retrying publish: {e}"),
            Err(e) => panic!("publish to {subject} never acknowledged: {e}"),
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
