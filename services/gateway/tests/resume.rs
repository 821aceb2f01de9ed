//! No update lost: `Resume` after a reconnect (also on another gateway), the `reload` answer
//! past retention, stateful re-attach with buffered replay, slow consumers, and the drain.

mod support;

use std::time::Duration;

use orderflow_events::orders::v1::OrderStatus;
use serde_json::{Value, json};
use support::*;
use uuid::Uuid;

/// Long enough for deliveries on a loaded 2-core machine; quiet periods prove absence.
const WAIT: Duration = Duration::from_secs(2);

fn positions(got: &[(String, Value)]) -> Vec<String> {
    got.iter()
        .map(|(_, p)| p["position"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn resume_replays_what_was_missed_then_continues_live_on_another_gateway() {
    let env = Env::start().await;
    let alice = Uuid::now_v7();
    let order = Uuid::now_v7();
    let mut c = RawClient::connect(env.addr, &token(alice, false)).await;
    let first = publish(
        &env.js,
        &status_changed(
            alice,
            order,
            "ORD-1",
            OrderStatus::Draft,
            OrderStatus::Confirmed,
        ),
    )
    .await;
    assert_eq!(
        positions(&c.collect(WAIT).await),
        vec![format!("ORDERS:{first}")]
    );
    drop(c);

    // While away: two of alice's updates, one of someone else's, one order creation.
    let mut missed = Vec::new();
    missed.push(
        publish(
            &env.js,
            &status_changed(
                alice,
                order,
                "ORD-1",
                OrderStatus::Confirmed,
                OrderStatus::Processing,
            ),
        )
        .await,
    );
    publish(
        &env.js,
        &status_changed(
            Uuid::now_v7(),
            Uuid::now_v7(),
            "ORD-X",
            OrderStatus::Draft,
            OrderStatus::Confirmed,
        ),
    )
    .await;
    publish(&env.js, &created(alice, Uuid::now_v7(), "ORD-2", 500)).await;
    missed.push(
        publish(
            &env.js,
            &status_changed(
                alice,
                order,
                "ORD-1",
                OrderStatus::Processing,
                OrderStatus::Shipped,
            ),
        )
        .await,
    );

    // Reconnect to a second gateway instance and resume.
    let (addr2, _state2, _stop2, _done2) = start_gateway(settings(env.nats.url())).await;
    let mut c = RawClient::connect(addr2, &token(alice, false)).await;
    let (done, replayed) = c.invoke("Resume", json!([format!("ORDERS:{first}")])).await;
    assert_eq!(
        done["result"],
        json!({"status": "ok", "replayed": 2}),
        "{done}"
    );
    let replayed: Vec<String> = replayed
        .iter()
        .map(|m| m["arguments"][0]["position"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        replayed,
        missed
            .iter()
            .map(|s| format!("ORDERS:{s}"))
            .collect::<Vec<_>>()
    );

    let live = publish(
        &env.js,
        &status_changed(
            alice,
            order,
            "ORD-1",
            OrderStatus::Shipped,
            OrderStatus::Delivered,
        ),
    )
    .await;
    assert_eq!(
        positions(&c.collect(WAIT).await),
        vec![format!("ORDERS:{live}")],
        "live, once"
    );

    // Resuming again from the start replays nothing already delivered.
    let (again, dup) = c.invoke("Resume", json!(["ORDERS:1"])).await;
    assert!(dup.is_empty(), "{dup:?}");
    assert_eq!(again["result"]["status"], "ok");
}

#[tokio::test]
async fn resume_past_retention_asks_for_a_reload() {
    let env = Env::start().await;
    let alice = Uuid::now_v7();
    for _ in 0..3 {
        publish(
            &env.js,
            &status_changed(
                alice,
                Uuid::now_v7(),
                "ORD-1",
                OrderStatus::Draft,
                OrderStatus::Confirmed,
            ),
        )
        .await;
    }
    env.js
        .get_stream("ORDERS")
        .await
        .unwrap()
        .purge()
        .await
        .unwrap();
    let last = publish(
        &env.js,
        &status_changed(
            alice,
            Uuid::now_v7(),
            "ORD-2",
            OrderStatus::Draft,
            OrderStatus::Confirmed,
        ),
    )
    .await;
    let mut c = RawClient::connect(env.addr, &token(alice, false)).await;
    let (done, replayed) = c.invoke("Resume", json!(["ORDERS:1"])).await;
    assert_eq!(done["result"]["status"], "reload", "{done}");
    assert_eq!(done["result"]["streams"], json!(["ORDERS"]));
    assert!(replayed.is_empty());
    let (ok, replayed) = c
        .invoke("Resume", json!([format!("ORDERS:{}", last - 1)]))
        .await;
    assert_eq!(ok["result"]["replayed"], 1, "{ok}");
    assert_eq!(replayed.len(), 1);
    let (bad, _) = c.invoke("Resume", json!(["SOMEWHERE:1"])).await;
    assert!(bad["error"].as_str().unwrap().contains("Invalid position"));
}

#[tokio::test]
async fn stateful_reattach_resends_unacknowledged_messages_without_duplicates() {
    let env = Env::start().await;
    let alice = Uuid::now_v7();
    let jwt = token(alice, false);
    let mut c = RawClient::connect_with(env.addr, &jwt, true).await;
    let order = Uuid::now_v7();
    let s1 = publish(
        &env.js,
        &status_changed(
            alice,
            order,
            "ORD-1",
            OrderStatus::Draft,
            OrderStatus::Confirmed,
        ),
    )
    .await;
    let s2 = publish(
        &env.js,
        &status_changed(
            alice,
            order,
            "ORD-1",
            OrderStatus::Confirmed,
            OrderStatus::Processing,
        ),
    )
    .await;
    assert_eq!(c.collect(WAIT).await.len(), 2);
    c.send_raw("{\"type\":8,\"sequenceId\":1}\u{1e}").await; // acknowledge only the first
    tokio::time::sleep(Duration::from_millis(100)).await;
    let token_id = c.connection_token.clone();
    drop(c); // the socket dies without a Close message
    let s3 = publish(
        &env.js,
        &status_changed(
            alice,
            order,
            "ORD-1",
            OrderStatus::Processing,
            OrderStatus::Shipped,
        ),
    )
    .await;
    tokio::time::sleep(Duration::from_millis(200)).await;

    let mut ws = open_socket(env.addr, &format!("id={token_id}"), Some(&jwt), None)
        .await
        .expect("re-attach");
    assert_eq!(
        next_text(&mut ws).await.unwrap(),
        "{\"type\":9,\"sequenceId\":2}\u{1e}",
        "Sequence first"
    );
    let mut again = Vec::new();
    while again.len() < 2 {
        let text = next_text(&mut ws).await.unwrap();
        let v: Value = serde_json::from_str(text.trim_end_matches('\u{1e}')).unwrap();
        if v["type"] == 1 {
            again.push(v["arguments"][0]["position"].as_str().unwrap().to_owned());
        }
    }
    assert_eq!(again, vec![format!("ORDERS:{s2}"), format!("ORDERS:{s3}")]);
    let _ = s1;
    assert_eq!(env.state.registry.len(), 1, "same logical connection");
}

#[tokio::test]
async fn a_client_that_never_reads_is_closed_and_others_are_unaffected() {
    let env = Env::start_with(|s| {
        s.outbound_queue = 16;
        s.send_timeout = Duration::from_millis(500);
    })
    .await;
    let alice = Uuid::now_v7();
    let stuck = RawClient::connect(env.addr, &token(alice, false)).await;
    let mut reader = RawClient::connect(env.addr, &token(alice, false)).await;
    let big = "N".repeat(8 * 1024);
    let reading = tokio::spawn(async move { reader.collect(Duration::from_secs(6)).await.len() });
    for _ in 0..600 {
        publish(
            &env.js,
            &status_changed(
                alice,
                Uuid::now_v7(),
                &big,
                OrderStatus::Draft,
                OrderStatus::Confirmed,
            ),
        )
        .await;
    }
    assert_eq!(
        reading.await.unwrap(),
        600,
        "the reading client got everything"
    );
    let state = env.state.clone();
    eventually(|| {
        let s = state.clone();
        async move { s.registry.len() == 1 }
    })
    .await;
    drop(stuck);
}

#[tokio::test]
async fn drain_tells_clients_to_reconnect() {
    let mut env = Env::start().await;
    let mut c = RawClient::connect(env.addr, &token(Uuid::now_v7(), false)).await;
    env.shutdown();
    let close = c.next_message(Duration::from_secs(5)).await.expect("Close");
    assert_eq!(
        close,
        json!({"type": 7, "error": "Server shutting down", "allowReconnect": true})
    );
    tokio::time::timeout(Duration::from_secs(5), env.done.take().unwrap())
        .await
        .unwrap()
        .unwrap();
    assert!(
        reqwest::get(format!("http://{}/healthz", env.addr))
            .await
            .is_err(),
        "no longer accepting"
    );
}

/// A gateway whose NATS server is gone still drains and exits on SIGTERM (it used to wait for a
/// NATS flush that could never finish, so the orchestrator had to SIGKILL it).
#[tokio::test]
async fn drain_finishes_when_nats_is_down() {
    let mut env = Env::start().await;
    let mut c = RawClient::connect(env.addr, &token(Uuid::now_v7(), false)).await;
    env.nats.kill();
    let state = env.state.clone();
    eventually(|| {
        let s = state.clone();
        async move { s.nats.connection_state() != async_nats::connection::State::Connected }
    })
    .await;
    env.shutdown();
    let close = c.next_message(Duration::from_secs(5)).await.expect("Close");
    assert_eq!(close["allowReconnect"], true);
    tokio::time::timeout(Duration::from_secs(10), env.done.take().unwrap())
        .await
        .expect("the gateway exits within its drain grace")
        .unwrap();
}
