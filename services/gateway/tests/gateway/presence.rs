//! Presence across gateways, on real gateways and a real nats-server: admins watching it see the
//! union of every gateway's customers, joins and leaves pushed from whichever gateway saw them;
//! customers never see any of it; a gateway that goes silent has its customers expire, one that
//! drains says goodbye; a gateway started later learns who is connected from its peers'
//! snapshots; and a reconnect storm is a bounded number of NATS messages, counted by
//! subscribing to the gateway's presence subject.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use futures::StreamExt;
use orderflow_gateway::GatewaySettings;
use orderflow_gateway::presence::wire::Message as PresenceMessage;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::support::*;

/// How long a pushed change may take (flushes are 100 ms apart).
const WAIT: Duration = Duration::from_secs(5);

/// Presence quick enough for tests: 100 ms batches, heartbeats every `heartbeat`.
fn quick(heartbeat: Duration) -> impl FnOnce(&mut GatewaySettings) {
    move |s| {
        s.presence_flush = Duration::from_millis(100);
        s.presence_heartbeat = heartbeat;
    }
}

/// An admin connection watching presence, and the list its `PresenceChanged` messages add up to.
struct Roster {
    client: RawClient,
    /// Customer id → name.
    online: BTreeMap<String, String>,
    /// `PresenceChanged` messages received.
    messages: usize,
}

impl Roster {
    async fn watch(addr: std::net::SocketAddr) -> Roster {
        let mut client = RawClient::connect(addr, &token(Uuid::now_v7(), true)).await;
        let (done, others) = client.invoke("WatchPresence", json!([])).await;
        assert!(done.get("error").is_none(), "{done}");
        let mut roster = Roster {
            client,
            online: BTreeMap::new(),
            messages: 0,
        };
        for m in others {
            roster.apply(&m);
        }
        roster
    }

    fn apply(&mut self, message: &Value) {
        assert_eq!(message["target"], "PresenceChanged", "{message}");
        let change = &message["arguments"][0];
        self.messages += 1;
        if change["reset"] == true {
            self.online.clear();
        }
        for entry in change["joined"].as_array().unwrap() {
            let id = entry["customerId"].as_str().unwrap().to_owned();
            self.online
                .insert(id, entry["name"].as_str().unwrap().to_owned());
        }
        for id in change["left"].as_array().unwrap() {
            self.online.remove(id.as_str().unwrap());
        }
    }

    /// Applies messages until `check` holds; panics after `wait`.
    async fn until(&mut self, what: &str, wait: Duration, check: impl Fn(&Self) -> bool) {
        let deadline = tokio::time::Instant::now() + wait;
        while !check(self) {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            match self.client.next_message(left).await {
                Some(m) => self.apply(&m),
                None => panic!("{what}: not seen within {wait:?}; roster {:?}", self.online),
            }
        }
    }

    /// Applies whatever arrives within `wait`.
    async fn settle(&mut self, wait: Duration) {
        let deadline = tokio::time::Instant::now() + wait;
        let left = || deadline.saturating_duration_since(tokio::time::Instant::now());
        while let Some(m) = self.client.next_message(left()).await {
            self.apply(&m);
        }
    }

    fn has(&self, id: Uuid) -> bool {
        self.online.contains_key(&id.to_string())
    }
}

async fn close(mut client: RawClient) {
    let _ = client.ws.close(None).await;
}

#[tokio::test]
async fn admins_see_the_union_of_all_gateways_pushed_from_the_gateway_that_saw_it() {
    let env = Env::start_with(quick(Duration::from_secs(1))).await;
    let (b, b_state, _stop_b, _done_b) = env.another_gateway(quick(Duration::from_secs(1))).await;
    // The admin watches on gateway B; its first message is the (empty) list.
    let mut admin = Roster::watch(b).await;
    admin
        .until("the first list", WAIT, |r| r.messages >= 1)
        .await;
    assert!(admin.online.is_empty(), "{:?}", admin.online);

    // A customer on B, there from the start: asking for presence is refused.
    let carol = Uuid::now_v7();
    let mut carol_client = RawClient::connect(b, &token(carol, false)).await;
    for method in ["WatchPresence", "GetPresence", "UnwatchPresence"] {
        let (refused, _) = carol_client.invoke(method, json!([])).await;
        assert!(
            refused["error"].as_str().unwrap().contains("Admin role"),
            "{method}: {refused}"
        );
    }

    let (alice, bob) = (Uuid::now_v7(), Uuid::now_v7());
    let alice_client = RawClient::connect(env.addr, &token(alice, false)).await; // gateway A
    let bob_on_b = RawClient::connect(b, &token(bob, false)).await;
    admin
        .until("Alice (gateway A) and Bob and Carol (B)", WAIT, |r| {
            r.has(alice) && r.has(bob) && r.has(carol)
        })
        .await;
    assert_eq!(
        admin.online[&alice.to_string()],
        "Test User",
        "the token's name"
    );
    assert_eq!(
        admin.online.len(),
        3,
        "admins are not listed: {:?}",
        admin.online
    );

    // The same union from gateway A, read once.
    let mut admin_on_a = RawClient::connect(env.addr, &token(Uuid::now_v7(), true)).await;
    let expected: Vec<String> = {
        let mut ids = vec![alice.to_string(), bob.to_string(), carol.to_string()];
        ids.sort();
        ids
    };
    let mut listed = Vec::new();
    for _ in 0..50 {
        let (done, _) = admin_on_a.invoke("GetPresence", json!([])).await;
        listed = done["result"]["customers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["customerId"].as_str().unwrap().to_owned())
            .collect();
        listed.sort();
        if listed == expected {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(listed, expected, "GetPresence on gateway A");

    // Bob opens a second tab on gateway A and closes the one on B: still one entry, no leave.
    let bob_on_a = RawClient::connect(env.addr, &token(bob, false)).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    close(bob_on_b).await;
    admin.settle(Duration::from_millis(800)).await;
    assert!(admin.has(bob), "Bob is still connected to gateway A");

    // Alice leaves gateway A: the admin on B is told.
    close(alice_client).await;
    admin.until("Alice's leave", WAIT, |r| !r.has(alice)).await;
    close(bob_on_a).await;
    admin.until("Bob's leave", WAIT, |r| !r.has(bob)).await;
    assert!(admin.has(carol));

    // Carol was connected through all of it and received nothing.
    assert!(
        carol_client
            .collect(Duration::from_millis(300))
            .await
            .is_empty()
    );
    // Unwatching stops the messages.
    assert_eq!(b_state.presence.watcher_count(), 1);
    let (done, _) = admin.client.invoke("UnwatchPresence", json!([])).await;
    assert!(done.get("error").is_none(), "{done}");
    assert_eq!(b_state.presence.watcher_count(), 0);
    close(carol_client).await;
    assert!(
        admin
            .client
            .collect(Duration::from_millis(600))
            .await
            .is_empty()
    );
}

#[tokio::test]
async fn a_silent_gateway_s_customers_expire_and_a_draining_gateway_s_leave_at_once() {
    // Gateway A reaches NATS through a proxy the test cuts, as if A had died.
    let beat = Duration::from_millis(500);
    let env = Env::start_behind_proxy_with(quick(beat)).await;
    let (b, _b_state, _stop_b, _done_b) = env.another_gateway(quick(beat)).await;
    // Gateway C heartbeats rarely: only its goodbye can make its customers leave quickly.
    let (c, _c_state, stop_c, done_c) = env.another_gateway(quick(Duration::from_secs(30))).await;
    let mut admin = Roster::watch(b).await;
    let (alice, carol) = (Uuid::now_v7(), Uuid::now_v7());
    let _alice = RawClient::connect(env.addr, &token(alice, false)).await;
    let _carol = RawClient::connect(c, &token(carol, false)).await;
    admin
        .until("Alice on A and Carol on C", WAIT, |r| {
            r.has(alice) && r.has(carol)
        })
        .await;

    env.proxy.as_ref().unwrap().cut();
    let cut = Instant::now();
    admin
        .until("Alice expiring with silent gateway A", WAIT, |r| {
            !r.has(alice)
        })
        .await;
    let after = cut.elapsed();
    // Three heartbeats without a word (1.5 s), less the time since A's last heartbeat.
    assert!(
        after >= Duration::from_millis(800),
        "expired after {after:?}: before three heartbeats were missed"
    );
    assert!(admin.has(carol), "gateway C is alive");

    let _ = stop_c.send(());
    let drained = Instant::now();
    admin
        .until("Carol leaving with draining gateway C", WAIT, |r| {
            !r.has(carol)
        })
        .await;
    assert!(
        drained.elapsed() < Duration::from_secs(5),
        "a goodbye, not an expiry (C's would take 90 s)"
    );
    let _ = done_c.await;
}

#[tokio::test]
async fn a_reconnect_storm_is_a_few_nats_messages_not_one_per_connection() {
    let flush = Duration::from_secs(1);
    let env = Env::start_with(|s| {
        s.presence_flush = flush;
        // No heartbeat during the test (the first goes out at start).
        s.presence_heartbeat = Duration::from_secs(600);
    })
    .await;
    let subject = format!("presence.v1.{}", env.state.presence.gateway_id());
    let watcher = async_nats::connect(env.nats.url()).await.unwrap();
    let mut published = watcher.subscribe(subject).await.unwrap();
    watcher.flush().await.unwrap();
    // Let the start-up messages (hello, the first heartbeat) go by.
    tokio::time::sleep(flush + Duration::from_millis(200)).await;
    while tokio::time::timeout(Duration::from_millis(50), published.next())
        .await
        .is_ok()
    {}

    let started = Instant::now();
    let customers: Vec<Uuid> = (0..100).map(|_| Uuid::now_v7()).collect();
    let tokens: Vec<String> = customers.iter().map(|c| token(*c, false)).collect();
    let mut clients =
        futures::future::join_all(tokens.iter().map(|t| RawClient::connect(env.addr, t))).await;
    // Half of them go again; the other half stay.
    let staying = clients.split_off(50);
    for client in clients {
        close(client).await;
    }
    // One customer reconnecting over and over, connected at the end.
    let restless = Uuid::now_v7();
    for _ in 0..20 {
        close(RawClient::connect(env.addr, &token(restless, false)).await).await;
    }
    let _restless = RawClient::connect(env.addr, &token(restless, false)).await;
    let storm = started.elapsed();
    // The last batch goes out within a flush interval of the last change.
    tokio::time::sleep(flush * 2 + Duration::from_millis(300)).await;
    let mut messages = Vec::new();
    while let Ok(Some(m)) = tokio::time::timeout(Duration::from_millis(100), published.next()).await
    {
        messages.push(PresenceMessage::decode(&m.payload).expect("a presence message"));
    }

    // At most one delta per flush interval the storm spanned (plus the one after it).
    let intervals = storm.as_millis().div_ceil(flush.as_millis()) as usize + 2;
    assert!(
        !messages.is_empty() && messages.len() <= intervals,
        "{} messages for 171 connects and disconnects over {storm:?}",
        messages.len()
    );
    // They add up to the truth: the 50 who stayed, and the restless one.
    let mut online = std::collections::HashSet::new();
    let mut restless_joins = 0;
    for message in &messages {
        let PresenceMessage::Delta { joined, left, .. } = message else {
            panic!("only deltas during a storm: {message:?}");
        };
        for (id, _) in joined {
            restless_joins += usize::from(*id == restless);
            online.insert(*id);
        }
        for id in left {
            online.remove(id);
        }
    }
    let mut expected: std::collections::HashSet<Uuid> = customers[50..].iter().copied().collect();
    expected.insert(restless);
    assert_eq!(online, expected);
    drop(staying);
    assert!(
        restless_joins <= intervals,
        "20 reconnects of one customer were {restless_joins} joins"
    );
}

#[tokio::test]
async fn a_gateway_started_later_learns_who_is_connected_from_its_peers_snapshots() {
    // Heartbeats far apart: only the new gateway's hello, answered by snapshots, can tell it.
    let slow = Duration::from_secs(60);
    let env = Env::start_with(quick(slow)).await;
    let customers: Vec<Uuid> = (0..3).map(|_| Uuid::now_v7()).collect();
    let mut clients = Vec::new();
    for c in &customers {
        clients.push(RawClient::connect(env.addr, &token(*c, false)).await);
    }
    // Past gateway A's first flush, so they are in A's deltas, not in any hello answer by luck.
    tokio::time::sleep(Duration::from_millis(500)).await;

    let started = Instant::now();
    let (late, _state, _stop, _done) = env.another_gateway(quick(slow)).await;
    let mut admin = Roster::watch(late).await;
    admin
        .until("A's customers on the new gateway", WAIT, |r| {
            customers.iter().all(|c| r.has(*c))
        })
        .await;
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "from the snapshots, not a heartbeat a minute later"
    );
    drop(clients);
}
