//! `ReplaySince(timestamp)`, the dashboard's "since 09:00": exactly the events stored at or
//! after the timestamp, in stream order, then live with no gap and no duplicate (also for events
//! published while the replay runs), the bound, and the refusals.

use std::time::Duration;

use crate::support::*;
use serde_json::{Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use uuid::Uuid;

/// Long enough for deliveries on a loaded 2-core machine; quiet periods prove absence.
const WAIT: Duration = Duration::from_secs(2);

/// A timestamp between what was stored before and what is stored after (the server's store
/// times come from the same clock).
async fn a_moment() -> String {
    tokio::time::sleep(Duration::from_millis(30)).await;
    let now = OffsetDateTime::now_utc().format(&Rfc3339).unwrap();
    tokio::time::sleep(Duration::from_millis(30)).await;
    now
}

fn position(m: &Value) -> String {
    m["arguments"][0]["position"].as_str().unwrap().to_owned()
}

fn orders(sequences: impl IntoIterator<Item = u64>) -> Vec<String> {
    sequences
        .into_iter()
        .map(|s| format!("ORDERS:{s}"))
        .collect()
}

async fn admin(env: &Env, extra: &str) -> RawClient {
    let jwt = token(Uuid::now_v7(), true);
    RawClient::connect_to(env.addr, env.addr, &jwt, false, extra).await
}

#[tokio::test]
async fn replays_exactly_the_events_since_the_timestamp_then_goes_live_without_gap_or_duplicate() {
    // A small window: the older part of the replay is read from the stream.
    let env = Env::start_with(|s| s.replay_window = 4).await;
    let alice = Uuid::now_v7();
    for _ in 0..5 {
        env.new_order_update(alice).await;
    }
    publish(&env.js, &stock("KB-001", 6, 4, 5)).await;
    let since = a_moment().await;
    let mut wanted = Vec::new();
    publish(&env.js, &created(alice, Uuid::now_v7(), "ORD-7", 1999)).await;
    for _ in 0..8 {
        wanted.push(env.new_order_update(alice).await);
    }
    let alert = publish(&env.js, &stock("KB-001", 5, 3, 4)).await;
    // Not a dashboard event (no threshold crossed): read, not sent.
    publish(&env.js, &stock("KB-001", 3, 2, 1)).await;

    let mut c = admin(&env, "").await;
    // Orders keep arriving while the replay runs: each one is sent once, in order, either in
    // the replay or live after it.
    let js = env.js.clone();
    let during = tokio::spawn(async move {
        let mut sequences = Vec::new();
        for _ in 0..20 {
            sequences.push(publish(&js, &new_order_update(Uuid::now_v7())).await);
        }
        sequences
    });
    let (done, replayed) = c.invoke("ReplaySince", json!([since])).await;
    let during = during.await.unwrap();
    let live = c.collect(WAIT).await;

    assert_eq!(done["result"]["status"], "ok", "{done}");
    let replayed_positions: Vec<String> = replayed.iter().map(position).collect();
    assert_eq!(
        replayed[0]["target"], "NewOrderCreated",
        "the creation published after the timestamp comes first"
    );
    assert_eq!(
        done["result"]["replayed"].as_u64().unwrap() as usize,
        replayed.len()
    );
    assert!(
        replayed_positions.contains(&format!("INVENTORY:{alert}")),
        "{replayed_positions:?}"
    );
    assert_eq!(
        replayed
            .iter()
            .filter(|m| m["target"] == "LowStockAlert")
            .count(),
        1,
        "only the alert raised after the timestamp"
    );
    // ORDERS: the creation, the 8 updates since the timestamp, and every update published
    // during the replay, each once and in stream order, across the replay and live delivery.
    let first = wanted[0] - 1;
    let mut expected = orders([first]);
    expected.extend(orders(wanted.iter().copied()));
    expected.extend(orders(during.iter().copied()));
    let got: Vec<String> = replayed_positions
        .iter()
        .cloned()
        .chain(
            live.iter()
                .map(|(_, a)| a["position"].as_str().unwrap().to_owned()),
        )
        .filter(|p| p.starts_with("ORDERS:"))
        .collect();
    assert_eq!(got, expected);

    // And live from now on, once.
    let next = env.new_order_update(alice).await;
    let after: Vec<String> = c
        .collect(WAIT)
        .await
        .iter()
        .map(|(_, a)| a["position"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(after, orders([next]));
}

#[tokio::test]
async fn beyond_the_bound_it_replays_the_latest_events_and_says_truncated() {
    let env = Env::start_with(|s| s.max_replay_since = 5).await;
    let alice = Uuid::now_v7();
    let since = a_moment().await;
    let mut stored = Vec::new();
    for _ in 0..9 {
        stored.push(env.new_order_update(alice).await);
    }
    let mut c = admin(&env, "").await;
    let (done, replayed) = c.invoke("ReplaySince", json!([since])).await;
    assert_eq!(
        done["result"],
        json!({"status": "truncated", "replayed": 5, "truncated": ["ORDERS"]})
    );
    let replayed: Vec<String> = replayed.iter().map(position).collect();
    assert_eq!(
        replayed,
        orders(stored[4..].iter().copied()),
        "the latest five"
    );
    let next = env.new_order_update(alice).await;
    let live: Vec<String> = c
        .collect(WAIT)
        .await
        .iter()
        .map(|(_, a)| a["position"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(live, orders([next]), "no gap after the truncated replay");
}

#[tokio::test]
async fn events_removed_by_retention_make_the_answer_truncated() {
    let env = Env::start().await;
    let alice = Uuid::now_v7();
    let since = a_moment().await;
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
    let kept = env.new_order_update(alice).await;
    let mut c = admin(&env, "").await;
    let (done, replayed) = c.invoke("ReplaySince", json!([since])).await;
    assert_eq!(
        done["result"],
        json!({"status": "truncated", "replayed": 1, "truncated": ["ORDERS"]})
    );
    assert_eq!(position(&replayed[0]), format!("ORDERS:{kept}"));
}

#[tokio::test]
async fn malformed_and_future_timestamps_and_customers_are_refused() {
    let env = Env::start().await;
    let mut c = admin(&env, "").await;
    for bad in [
        json!([]),
        json!(["yesterday"]),
        json!(["2026-12-07T09:00:00"]),
        json!([1_765_098_000]),
        json!(["2026-12-07T09:00:00Z", "2026-12-07T10:00:00Z"]),
    ] {
        let (done, others) = c.invoke("ReplaySince", bad.clone()).await;
        assert!(others.is_empty());
        assert_eq!(
            done["error"],
            "Invalid timestamp: expected one RFC 3339 date-time string such as \"2026-12-07T09:00:00Z\".",
            "{bad}"
        );
    }
    let tomorrow = (OffsetDateTime::now_utc() + time::Duration::days(1))
        .format(&Rfc3339)
        .unwrap();
    let (done, _) = c.invoke("replaysince", json!([tomorrow])).await;
    assert_eq!(done["error"], "Invalid timestamp: it is in the future.");
    // A refused call joins nothing: no dashboard traffic.
    env.new_order_update(Uuid::now_v7()).await;
    assert!(c.collect(WAIT).await.is_empty());

    let alice = Uuid::now_v7();
    let mut customer = RawClient::connect(env.addr, &token(alice, false)).await;
    let (done, others) = customer
        .invoke("ReplaySince", json!(["2026-01-01T00:00:00Z"]))
        .await;
    assert!(others.is_empty());
    assert_eq!(done["error"], "Forbidden: the Admin role is required.");
    // Still the customer's own live updates only.
    let own = env.new_order_update(alice).await;
    env.new_order_update(Uuid::now_v7()).await;
    let live = customer.collect(WAIT).await;
    assert_eq!(live.len(), 1, "{live:?}");
    assert_eq!(live[0].1["position"], format!("ORDERS:{own}"));
}

/// On a connection that already delivered dashboard events the older ones could only arrive
/// out of order: that stream says `reload` and nothing is sent twice.
#[tokio::test]
async fn a_connection_already_live_on_the_dashboard_gets_reload_not_late_events() {
    let env = Env::start().await;
    let since = a_moment().await;
    env.new_order_update(Uuid::now_v7()).await;
    let mut c = admin(&env, "dashboard=true").await;
    let live = env.new_order_update(Uuid::now_v7()).await;
    assert_eq!(c.collect(WAIT).await.len(), 1);
    let (done, replayed) = c.invoke("ReplaySince", json!([since])).await;
    assert!(replayed.is_empty(), "{replayed:?}");
    assert_eq!(
        done["result"],
        json!({"status": "reload", "replayed": 0, "streams": ["ORDERS"]})
    );
    // A timestamp after everything stored: nothing to replay, nothing to reload.
    let now = a_moment().await;
    let (done, replayed) = c.invoke("ReplaySince", json!([now])).await;
    assert!(replayed.is_empty());
    assert_eq!(done["result"], json!({"status": "ok", "replayed": 0}));
    let next = env.new_order_update(Uuid::now_v7()).await;
    let got = c.collect(WAIT).await;
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].1["position"], format!("ORDERS:{next}"));
    assert!(next > live);
}
