//! Live delivery across NATS faults, with no reconnect of the browser: the gateway's own NATS
//! link cut (a partition) or stalled while events keep being stored, and nats-server killed and
//! restarted. Every update reaches the connected client once and in stream order, including
//! the last one before the fault, which no newer message would reveal as missing.

use std::time::Duration;

use crate::support::*;
use async_nats::connection::State;
use orderflow_gateway::live_link::LinkKind;
use serde_json::Value;
use uuid::Uuid;

/// Generous: after a cut the gateway's NATS client reconnects with a back-off.
const WAIT: Duration = Duration::from_secs(15);

/// Publishes one of `customer`'s updates (retrying while JetStream comes back); its position.
async fn update(env: &Env, customer: Uuid) -> String {
    let event = new_order_update(customer);
    for _ in 0..100 {
        match tokio::time::timeout(Duration::from_secs(2), publish_checked(&env.js, &event)).await {
            Ok(Some(sequence)) => return format!("ORDERS:{sequence}"),
            _ => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
    panic!("could not publish");
}

/// The positions of the next `n` updates the client receives (and that nothing else arrives).
async fn next_positions(c: &mut RawClient, n: usize) -> Vec<String> {
    let mut got = Vec::new();
    while got.len() < n {
        let Some(m) = c.next_message(WAIT).await else {
            panic!("only {got:?} arrived");
        };
        got.push(m["arguments"][0]["position"].as_str().unwrap().to_owned());
    }
    let extra: Option<Value> = c.next_message(Duration::from_millis(500)).await;
    assert!(extra.is_none(), "unexpected {extra:?} after {got:?}");
    got
}

/// A gateway behind a proxy to NATS, and a customer connected to it.
async fn partitionable() -> (Env, Uuid, RawClient) {
    let env = Env::start_behind_proxy().await;
    let alice = Uuid::now_v7();
    let c = RawClient::connect(env.addr, &token(alice, false)).await;
    (env, alice, c)
}

async fn gateway_link(env: &Env, connected: bool) {
    until(&env.state, |s| {
        (s.nats.connection_state() == State::Connected) == connected
    })
    .await;
}

#[tokio::test]
async fn a_partitioned_gateway_delivers_what_was_stored_meanwhile_in_order() {
    let (env, alice, mut c) = partitionable().await;
    let proxy = env.proxy.as_ref().unwrap();
    let before = update(&env, alice).await;
    assert_eq!(next_positions(&mut c, 1).await, vec![before]);

    proxy.cut();
    gateway_link(&env, false).await;
    let mut during = Vec::new();
    for _ in 0..3 {
        during.push(update(&env, alice).await);
        update(&env, Uuid::now_v7()).await;
    }
    proxy.restore();
    // Nothing newer is published: the gateway must find the gap itself when it reconnects.
    assert_eq!(next_positions(&mut c, 3).await, during);
    let after = update(&env, alice).await;
    assert_eq!(next_positions(&mut c, 1).await, vec![after]);
}

#[tokio::test]
async fn a_stalled_link_delays_updates_but_loses_and_repeats_none() {
    let (env, alice, mut c) = partitionable().await;
    let proxy = env.proxy.as_ref().unwrap();
    proxy.pause();
    let mut during = Vec::new();
    for _ in 0..3 {
        during.push(update(&env, alice).await);
        update(&env, Uuid::now_v7()).await;
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    proxy.resume();
    during.push(update(&env, alice).await);
    assert_eq!(next_positions(&mut c, 4).await, during);
}

#[tokio::test]
async fn updates_stored_right_after_a_nats_restart_all_arrive_in_order() {
    restart_twice(LinkKind::Direct).await;
}

/// The same over the general client's subscription, which a TLS-only NATS gets.
#[tokio::test]
async fn over_the_general_client_updates_across_a_nats_restart_all_arrive_in_order() {
    restart_twice(LinkKind::Client).await;
}

async fn restart_twice(link: LinkKind) {
    let mut env = Env::start_with(|s| s.live_link = link).await;
    let alice = Uuid::now_v7();
    let mut c = RawClient::connect(env.addr, &token(alice, false)).await;
    let mut expected = vec![update(&env, alice).await];
    for _ in 0..2 {
        env.nats.kill();
        gateway_link(&env, false).await;
        env.nats.restart().await;
        // Published as soon as JetStream takes them: before or after the gateway is back.
        for _ in 0..3 {
            expected.push(update(&env, alice).await);
        }
    }
    assert_eq!(next_positions(&mut c, expected.len()).await, expected);
}

/// The order the report found: nats-server restarts, the publisher is back first and
/// stores events before the gateway has reconnected (held back here by cutting its link).
#[tokio::test]
async fn updates_stored_before_the_gateway_is_back_from_a_nats_restart_all_arrive() {
    let mut env = Env::start_behind_proxy().await;
    let alice = Uuid::now_v7();
    let mut c = RawClient::connect(env.addr, &token(alice, false)).await;
    let mut expected = vec![update(&env, alice).await];
    env.proxy.as_ref().unwrap().cut();
    env.nats.kill();
    gateway_link(&env, false).await;
    env.nats.restart().await;
    for _ in 0..3 {
        expected.push(update(&env, alice).await);
        update(&env, Uuid::now_v7()).await;
    }
    env.proxy.as_ref().unwrap().restore();
    assert_eq!(next_positions(&mut c, expected.len()).await, expected);
}

/// A client that comes from a gateway whose feed was ahead of this one's says so with its
/// position; what this gateway's feed delivers late up to that position is not sent again.
#[tokio::test]
async fn a_gateway_behind_the_client_never_sends_what_the_client_has() {
    let env = Env::start_behind_proxy().await;
    let proxy = env.proxy.as_ref().unwrap();
    let alice = Uuid::now_v7();
    proxy.pause();
    update(&env, alice).await;
    let seen = update(&env, alice).await;
    let jwt = token(alice, false);
    let mut c =
        RawClient::connect_to(env.addr, env.addr, &jwt, false, &format!("resume={seen}")).await;
    let resumed = c.next_message(WAIT).await.unwrap();
    assert_eq!(resumed["target"], "Resumed");
    assert_eq!(resumed["arguments"][0]["replayed"], 0);
    let after = update(&env, alice).await;
    proxy.resume();
    assert_eq!(next_positions(&mut c, 1).await, vec![after]);
}

/// Anyone allowed to publish on the live subjects can send a header value with a bare `\r`,
/// which the NATS protocol does not forbid. async-nats before 0.52 panicked its connection task
/// on one, which stopped every delivery of the gateway; it must be one skipped message.
#[tokio::test]
async fn a_header_value_with_a_line_break_stops_nothing() {
    let env = Env::start().await;
    let alice = Uuid::now_v7();
    let mut c = RawClient::connect(env.addr, &token(alice, false)).await;
    let first = update(&env, alice).await;
    assert_eq!(next_positions(&mut c, 1).await, vec![first]);

    let subject = format!("live.orders.v1.{alice}.{}.status_changed", Uuid::now_v7());
    let headers = "NATS/1.0\r\nOrderflow-Schema: a\rb\r\n\r\n";
    env.nats.publish_protocol(&subject, headers, b"").await;

    let after = update(&env, alice).await;
    assert_eq!(next_positions(&mut c, 1).await, vec![after]);
}
