//! No update lost: a resume declared in the hub URL (also on another gateway), from the
//! in-memory window and from the stream, the `reload` answer past retention or beyond the cap,
//! the `Resume` method's ordering rule, stateful re-attach with buffered replay, slow
//! consumers, and the drain.

use std::time::Duration;

use crate::support::*;
use orderflow_events::orders::v1::OrderStatus;
use orderflow_gateway::protocol::StreamName;
use orderflow_gateway::stored::Interest;
use serde_json::{Value, json};
use uuid::Uuid;

/// Long enough for deliveries on a loaded 2-core machine; quiet periods prove absence.
const WAIT: Duration = Duration::from_secs(2);

fn positions(got: &[(String, Value)]) -> Vec<String> {
    got.iter()
        .map(|(_, p)| p["position"].as_str().unwrap().to_owned())
        .collect()
}

/// Someone else's order update: traffic a customer's resume must not have to read.
async fn someone_elses(env: &Env, n: usize) {
    for _ in 0..n {
        env.new_order_update(Uuid::now_v7()).await;
    }
}

/// Everything up to and including `Resumed`, as `(target, argument)`.
async fn until_resumed(c: &mut RawClient) -> Vec<(String, Value)> {
    let mut got = Vec::new();
    loop {
        let m = c
            .next_message(Duration::from_secs(10))
            .await
            .expect("Resumed");
        assert_eq!(m["type"], 1, "only invocations before Resumed: {m}");
        let target = m["target"].as_str().unwrap().to_owned();
        got.push((target.clone(), m["arguments"][0].clone()));
        if target == "Resumed" {
            return got;
        }
    }
}

/// Two updates of `customer`'s `order`: confirmed, then processing; their sequences.
async fn confirmed_then_processing(env: &Env, customer: Uuid, order: Uuid) -> (u64, u64) {
    let confirmed = env
        .order_update(customer, order, OrderStatus::Draft, OrderStatus::Confirmed)
        .await;
    let processing = env
        .order_update(
            customer,
            order,
            OrderStatus::Confirmed,
            OrderStatus::Processing,
        )
        .await;
    (confirmed, processing)
}

fn at(sequences: &[u64]) -> Vec<String> {
    sequences.iter().map(|s| format!("ORDERS:{s}")).collect()
}

#[tokio::test]
async fn a_resume_in_the_url_replays_exactly_what_was_missed_then_goes_live_on_another_gateway() {
    let env = Env::start().await;
    let alice = Uuid::now_v7();
    let order = Uuid::now_v7();
    let jwt = token(alice, false);
    let mut c = RawClient::connect(env.addr, &jwt).await;
    let first = env
        .order_update(alice, order, OrderStatus::Draft, OrderStatus::Confirmed)
        .await;
    assert_eq!(positions(&c.collect(WAIT).await), at(&[first]));
    drop(c);

    // While away: two of alice's updates among many of others', and an order creation (the
    // dashboard's, not hers).
    let mut missed = Vec::new();
    someone_elses(&env, 20).await;
    missed.push(
        env.order_update(
            alice,
            order,
            OrderStatus::Confirmed,
            OrderStatus::Processing,
        )
        .await,
    );
    publish(&env.js, &created(alice, Uuid::now_v7(), "ORD-2", 500)).await;
    someone_elses(&env, 20).await;
    missed.push(
        env.order_update(alice, order, OrderStatus::Processing, OrderStatus::Shipped)
            .await,
    );

    // Negotiate with the first gateway, connect to a second that has just started.
    let (b, _state_b, _stop_b, _done_b) = env.another_gateway(|_| {}).await;
    let mut c =
        RawClient::connect_to(env.addr, b, &jwt, false, &format!("resume=ORDERS:{first}")).await;
    let got = until_resumed(&mut c).await;
    let (resumed, replayed) = got.split_last().unwrap();
    assert_eq!(positions(replayed), at(&missed));
    assert_eq!(resumed.1, json!({"status": "ok", "replayed": 2}));

    let live = env
        .order_update(alice, order, OrderStatus::Shipped, OrderStatus::Delivered)
        .await;
    assert_eq!(positions(&c.collect(WAIT).await), at(&[live]), "live, once");
    // A second resume repeats nothing.
    let (again, dup) = c.invoke("Resume", json!([format!("ORDERS:{first}")])).await;
    assert!(dup.is_empty(), "{dup:?}");
    assert_eq!(again["result"], json!({"status": "ok", "replayed": 0}));
}

/// Older than the in-memory window: read from the stream, only the customer's own subjects,
/// with no JetStream consumer.
#[tokio::test]
async fn older_events_come_from_the_stream_without_a_consumer() {
    let env = Env::start_with(|s| s.replay_window = 4).await;
    let alice = Uuid::now_v7();
    let order = Uuid::now_v7();
    let before = env
        .order_update(alice, order, OrderStatus::Draft, OrderStatus::Confirmed)
        .await;
    let mut missed = Vec::new();
    for (old, new) in [
        (OrderStatus::Confirmed, OrderStatus::Processing),
        (OrderStatus::Processing, OrderStatus::Shipped),
    ] {
        missed.push(env.order_update(alice, order, old, new).await);
        someone_elses(&env, 6).await;
    }
    missed.push(
        env.order_update(alice, order, OrderStatus::Shipped, OrderStatus::Delivered)
            .await,
    );
    let mut c = RawClient::connect_to(
        env.addr,
        env.addr,
        &token(alice, false),
        false,
        &format!("resume=ORDERS:{before}"),
    )
    .await;
    let got = until_resumed(&mut c).await;
    let (resumed, replayed) = got.split_last().unwrap();
    assert_eq!(positions(replayed), at(&missed));
    assert_eq!(resumed.1["replayed"], 3);
    let info = env
        .js
        .get_stream("ORDERS")
        .await
        .unwrap()
        .info()
        .await
        .unwrap()
        .clone();
    assert_eq!(info.state.consumer_count, 0, "no consumer per resume");
}

#[tokio::test]
async fn a_resume_past_retention_or_beyond_the_cap_asks_for_a_reload() {
    let env = Env::start_with(|s| {
        s.replay_window = 2;
        s.max_replay = 3;
    })
    .await;
    let alice = Uuid::now_v7();
    let jwt = token(alice, false);
    for _ in 0..3 {
        env.new_order_update(alice).await;
    }
    env.js
        .get_stream("ORDERS")
        .await
        .unwrap()
        .purge()
        .await
        .unwrap();
    someone_elses(&env, 3).await;
    let kept = env.new_order_update(alice).await;
    let mut c = RawClient::connect_to(env.addr, env.addr, &jwt, false, "resume=ORDERS:1").await;
    let got = until_resumed(&mut c).await;
    assert_eq!(got.len(), 1, "nothing replayed: {got:?}");
    assert_eq!(
        got[0].1,
        json!({"status": "reload", "replayed": 0, "streams": ["ORDERS"]})
    );

    // After the purge, within retention: exact.
    let resume = format!("resume=ORDERS:{}", kept - 4);
    let mut c = RawClient::connect_to(env.addr, env.addr, &jwt, false, &resume).await;
    let got = until_resumed(&mut c).await;
    assert_eq!(positions(&got[..1]), at(&[kept]));

    // More than the cap of this customer's own events missed.
    for _ in 0..4 {
        env.new_order_update(alice).await;
    }
    let resume = format!("resume=ORDERS:{kept}");
    let mut c = RawClient::connect_to(env.addr, env.addr, &jwt, false, &resume).await;
    let got = until_resumed(&mut c).await;
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].1["status"], "reload");
}

/// The `Resume` method comes after the connection may have delivered live events: it replays
/// when that keeps stream order, and otherwise says `reload` rather than send events late.
#[tokio::test]
async fn the_resume_method_keeps_order_or_says_reload() {
    let env = Env::start().await;
    let alice = Uuid::now_v7();
    let jwt = token(alice, false);
    let order = Uuid::now_v7();
    let (seen, missed) = confirmed_then_processing(&env, alice, order).await;

    let mut quiet = RawClient::connect(env.addr, &jwt).await;
    let (done, replayed) = quiet
        .invoke("Resume", json!([format!("ORDERS:{seen}")]))
        .await;
    assert_eq!(done["result"], json!({"status": "ok", "replayed": 1}));
    assert_eq!(
        replayed[0]["arguments"][0]["position"],
        format!("ORDERS:{missed}")
    );

    let mut late = RawClient::connect(env.addr, &jwt).await;
    let live = env
        .order_update(alice, order, OrderStatus::Processing, OrderStatus::Shipped)
        .await;
    assert_eq!(positions(&late.collect(WAIT).await), at(&[live]));
    let (done, replayed) = late
        .invoke("Resume", json!([format!("ORDERS:{seen}")]))
        .await;
    assert!(replayed.is_empty(), "{replayed:?}");
    assert_eq!(
        done["result"],
        json!({"status": "reload", "replayed": 0, "streams": ["ORDERS"]})
    );
    let (bad, _) = late.invoke("Resume", json!(["SOMEWHERE:1"])).await;
    assert!(bad["error"].as_str().unwrap().contains("Invalid position"));
}

#[tokio::test]
async fn stateful_reattach_resends_unacknowledged_messages_without_duplicates() {
    let env = Env::start().await;
    let alice = Uuid::now_v7();
    let jwt = token(alice, false);
    let mut c = RawClient::connect_with(env.addr, &jwt, true).await;
    let order = Uuid::now_v7();
    let (s1, s2) = confirmed_then_processing(&env, alice, order).await;
    assert_eq!(c.collect(WAIT).await.len(), 2);
    c.send_raw("{\"type\":8,\"sequenceId\":1}\u{1e}").await; // acknowledge only the first
    tokio::time::sleep(Duration::from_millis(100)).await;
    let token_id = c.connection_token.clone();
    drop(c); // the socket dies without a Close message
    let s3 = env
        .order_update(alice, order, OrderStatus::Processing, OrderStatus::Shipped)
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
    // A queue of 64 still overflows for the client that never reads (600 updates of 8 KiB),
    // and leaves the reading one room when a loaded machine delays it.
    let env = Env::start_with(|s| {
        s.outbound_queue = 64;
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
    until(&env.state, |s| s.registry.len() == 1).await;
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
        orderflow_runtime::http::client()
            .get(format!("http://{}/healthz", env.addr))
            .send()
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
    until(&env.state, |s| {
        s.nats.connection_state() != async_nats::connection::State::Connected
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

/// Queued messages are written together: a replay of 200 updates takes a handful of
/// WebSocket messages (each at most ~64 KiB), not 200.
#[tokio::test]
async fn a_long_replay_is_written_in_few_messages() {
    let env = Env::start().await;
    let alice = Uuid::now_v7();
    let before = env.new_order_update(alice).await;
    for _ in 0..200 {
        env.new_order_update(alice).await;
    }
    let jwt = token(alice, false);
    let query = format!(
        "id={}&resume=ORDERS:{before}",
        connection_token(env.addr, &jwt).await
    );
    let mut ws = open_socket(env.addr, &query, Some(&jwt), None)
        .await
        .unwrap();
    use futures::SinkExt;
    ws.send(tokio_tungstenite::tungstenite::Message::text(
        "{\"protocol\":\"json\",\"version\":1}\u{1e}",
    ))
    .await
    .unwrap();
    assert_eq!(next_text(&mut ws).await.unwrap(), "{}\u{1e}");
    let (mut messages, mut records) = (0, 0);
    while records < 201 {
        let text = next_text(&mut ws).await.expect("the replay and Resumed");
        messages += 1;
        records += text.matches('\u{1e}').count();
    }
    assert_eq!(records, 201, "200 updates and Resumed");
    assert!(
        messages <= 4,
        "{messages} WebSocket messages for 201 records"
    );
}

/// A gateway that starts after the events were stored loads the recent ones into its window,
/// so the clients that move to it after a crash or a deploy are served from memory.
#[tokio::test]
async fn a_starting_gateway_loads_recent_events_for_resumes() {
    let env = Env::start().await;
    let alice = Uuid::now_v7();
    let mut stored = Vec::new();
    for _ in 0..5 {
        stored.push(env.new_order_update(alice).await);
        someone_elses(&env, 2).await;
    }
    let (b, state_b, _stop, _done) = env.another_gateway(|_| {}).await;
    let last = *stored.last().unwrap();
    let held = state_b
        .feed(StreamName::Orders)
        .slice(0, last, Interest::Customer(alice));
    assert_eq!(
        held.held_from, 1,
        "the window reaches back to the first event"
    );
    assert_eq!(held.events.len(), 5);
    let mut c = RawClient::connect_to(
        b,
        b,
        &token(alice, false),
        false,
        &format!("resume=ORDERS:{}", stored[0]),
    )
    .await;
    let got = until_resumed(&mut c).await;
    assert_eq!(positions(&got[..4]), at(&stored[1..]));
}
