//! Wire-level integration tests against a real nats-server and real protobuf events: auth before
//! upgrade, group isolation, typed payloads, low-stock crossings, reference-counted groups,
//! protocol violations, Resume, stateful re-attach, slow consumers and drain.

use std::time::Duration;

use crate::support::*;
use futures::SinkExt;
use orderflow_events::orders::v1::OrderStatus;
use orderflow_gateway::groups::GroupKey;
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;
use uuid::Uuid;

/// Long enough for deliveries on a loaded 2-core machine; quiet periods prove absence.
const WAIT: Duration = Duration::from_secs(2);

#[tokio::test]
async fn refuses_bad_credentials_and_origins_before_upgrading() {
    let env = Env::start().await;
    let user = Uuid::now_v7();
    let good = token(user, false);
    let forged = orderflow_auth::dev::issue_hs256(
        "another-secret-that-is-long-enough-0123456789",
        orderflow_auth::dev::DevClaims::new(user),
    );
    let wrong_aud = orderflow_auth::dev::issue_hs256(orderflow_auth::dev::SECRET, {
        let mut c = orderflow_auth::dev::DevClaims::new(user);
        c.audience = "someone-else".into();
        c
    });
    assert_eq!(negotiate(env.addr, &forged, false).await.status(), 401);
    assert_eq!(negotiate(env.addr, &wrong_aud, false).await.status(), 401);
    let no_token = orderflow_runtime::http::client()
        .post(format!(
            "http://{}/hubs/orders/negotiate?negotiateVersion=1",
            env.addr
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(no_token.status(), 401);

    let body: Value = negotiate(env.addr, &good, false)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(body["negotiateVersion"], 1);
    assert_eq!(body["availableTransports"][0]["transport"], "WebSockets");
    assert!(
        body.get("useStatefulReconnect").is_none(),
        "never unrequested"
    );
    let id = body["connectionToken"].as_str().unwrap();
    assert_ne!(id, body["connectionId"].as_str().unwrap());
    let q = format!("id={id}");
    assert_eq!(
        open_socket(env.addr, &q, Some(&forged), None).await.err(),
        Some(401)
    );
    assert_eq!(open_socket(env.addr, &q, None, None).await.err(), Some(401));
    let other_user = token(Uuid::now_v7(), false);
    assert_eq!(
        open_socket(env.addr, &q, Some(&other_user), None)
            .await
            .err(),
        Some(403)
    );
    assert_eq!(
        open_socket(env.addr, "id=unknown", Some(&good), None)
            .await
            .err(),
        Some(404)
    );
    assert_eq!(
        open_socket(env.addr, &q, Some(&good), Some("http://evil.test"))
            .await
            .err(),
        Some(403)
    );
    // The token in the query string (browser style) works; the right origin is accepted.
    let q = format!("id={id}&access_token={good}");
    assert!(open_socket(env.addr, &q, None, Some(ORIGIN)).await.is_ok());
}

#[tokio::test]
async fn negotiate_answers_cors_with_the_exact_origin() {
    let env = Env::start().await;
    let url = format!(
        "http://{}/hubs/orders/negotiate?negotiateVersion=1",
        env.addr
    );
    let preflight = orderflow_runtime::http::client()
        .request(reqwest::Method::OPTIONS, &url)
        .header("Origin", ORIGIN)
        .header("Access-Control-Request-Method", "POST")
        .header(
            "Access-Control-Request-Headers",
            "authorization,x-requested-with,x-signalr-user-agent",
        )
        .send()
        .await
        .unwrap();
    assert!(preflight.status().is_success());
    let h = preflight.headers();
    assert_eq!(h["access-control-allow-origin"], ORIGIN);
    assert_eq!(h["access-control-allow-credentials"], "true");
    let allowed = h["access-control-allow-headers"]
        .to_str()
        .unwrap()
        .to_ascii_lowercase();
    for name in ["authorization", "x-requested-with", "x-signalr-user-agent"] {
        assert!(allowed.contains(name), "{allowed}");
    }
    let evil = orderflow_runtime::http::client()
        .request(reqwest::Method::OPTIONS, &url)
        .header("Origin", "http://evil.test")
        .header("Access-Control-Request-Method", "POST")
        .send()
        .await
        .unwrap();
    assert!(evil.headers().get("access-control-allow-origin").is_none());
}

#[tokio::test]
async fn customers_get_their_own_orders_and_admins_get_everything_once() {
    let env = Env::start().await;
    let (alice, bob, admin) = (Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7());
    let mut a = RawClient::connect(env.addr, &token(alice, false)).await;
    let mut b = RawClient::connect(env.addr, &token(bob, false)).await;
    let mut d = RawClient::connect(env.addr, &token(admin, true)).await;
    let (done, _) = d.invoke("JoinAdminDashboard", json!([])).await;
    assert!(done.get("error").is_none(), "{done}");

    let (oa, ob, od) = (Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7());
    let s1 = publish(
        &env.js,
        &status_changed(
            alice,
            oa,
            "ORD-A",
            OrderStatus::Confirmed,
            OrderStatus::Shipped,
        ),
    )
    .await;
    let s2 = publish(
        &env.js,
        &status_changed(bob, ob, "ORD-B", OrderStatus::Draft, OrderStatus::Confirmed),
    )
    .await;
    let s3 = publish(&env.js, &created(alice, Uuid::now_v7(), "ORD-C", 12345)).await;
    let s4 = publish(
        &env.js,
        &status_changed(
            admin,
            od,
            "ORD-D",
            OrderStatus::Shipped,
            OrderStatus::Delivered,
        ),
    )
    .await;
    let s5 = publish(&env.js, &stock("SKU-1", 6, 4, 5)).await;

    let got_a = a.collect(WAIT).await;
    assert_eq!(got_a.len(), 1, "{got_a:?}");
    let (target, payload) = &got_a[0];
    assert_eq!(target, "OrderStatusChanged");
    let keys: Vec<&str> = payload
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    let mut keys = keys;
    keys.sort_unstable();
    assert_eq!(
        keys,
        [
            "newStatus",
            "oldStatus",
            "orderId",
            "orderNumber",
            "position",
            "reason",
            "updatedAt"
        ]
    );
    assert_eq!(payload["orderId"], oa.to_string());
    assert_eq!(payload["orderNumber"], "ORD-A");
    assert_eq!(payload["newStatus"], "Shipped");
    assert_eq!(payload["oldStatus"], "Confirmed");
    assert_eq!(payload["position"], format!("ORDERS:{s1}"));
    assert!(payload["updatedAt"].as_str().unwrap().ends_with('Z'));

    let got_b = b.collect(WAIT).await;
    assert_eq!(got_b.len(), 1);
    assert_eq!(got_b[0].1["position"], format!("ORDERS:{s2}"));

    let got_d = d.collect(WAIT).await;
    let summary: Vec<(String, Value)> = got_d
        .iter()
        .map(|(t, p)| (t.clone(), p["position"].clone()))
        .collect();
    assert_eq!(
        summary,
        vec![
            ("OrderStatusChanged".into(), json!(format!("ORDERS:{s1}"))),
            ("OrderStatusChanged".into(), json!(format!("ORDERS:{s2}"))),
            ("NewOrderCreated".into(), json!(format!("ORDERS:{s3}"))),
            ("OrderStatusChanged".into(), json!(format!("ORDERS:{s4}"))),
            ("LowStockAlert".into(), json!(format!("INVENTORY:{s5}"))),
        ],
        "admin gets all, its own order once"
    );
    let created = &got_d[2].1;
    assert_eq!(created["totalMinor"], json!(12345));
    assert_eq!(created["currency"], "EUR");
    assert!(created.get("total").is_none(), "no float total: {created}");
    assert_eq!(created["customerName"], "Ada Lovelace");
    let alert = &got_d[4].1;
    assert_eq!(
        (
            alert["sku"].as_str(),
            alert["stockLevel"].as_i64(),
            alert["threshold"].as_i64()
        ),
        (Some("SKU-1"), Some(4), Some(5))
    );
}

#[tokio::test]
async fn non_admins_cannot_join_the_dashboard() {
    let env = Env::start().await;
    let user = Uuid::now_v7();
    let mut c = RawClient::connect(env.addr, &token(user, false)).await;
    let (done, _) = c.invoke("JoinAdminDashboard", json!([])).await;
    assert!(done["error"].as_str().unwrap().contains("Admin"), "{done}");
    assert_eq!(env.state.groups.member_count(GroupKey::Dashboard), 0);
    publish(
        &env.js,
        &created(Uuid::now_v7(), Uuid::now_v7(), "ORD-X", 100),
    )
    .await;
    publish(&env.js, &stock("SKU-2", 9, 1, 5)).await;
    assert!(c.collect(WAIT).await.is_empty());
    let (unknown, _) = c.invoke("DropTables", json!([])).await;
    assert!(
        unknown["error"]
            .as_str()
            .unwrap()
            .contains("does not exist")
    );
}

#[tokio::test]
async fn low_stock_alert_fires_once_per_crossing() {
    let env = Env::start().await;
    let mut d = RawClient::connect(env.addr, &token(Uuid::now_v7(), true)).await;
    d.invoke("JoinAdminDashboard", json!([])).await;
    for (old, new) in [(10, 6), (6, 4), (4, 3), (3, 1), (1, 8), (8, 2)] {
        publish(&env.js, &stock("SKU-9", old, new, 5)).await;
    }
    let levels: Vec<i64> = d
        .collect(WAIT)
        .await
        .iter()
        .map(|(_, p)| p["stockLevel"].as_i64().unwrap())
        .collect();
    assert_eq!(levels, vec![4, 2]);
}

/// The update published the instant the handshake is answered must arrive: the connection
/// joins its groups before the answer, and the live feed delivers everything after that point.
#[tokio::test]
async fn the_first_update_right_after_connecting_arrives() {
    let env = Env::start().await;
    for attempt in 0..40 {
        let customer = Uuid::now_v7();
        let mut client = RawClient::connect(env.addr, &token(customer, false)).await;
        let order = Uuid::now_v7();
        let sequence = publish(
            &env.js,
            &status_changed(
                customer,
                order,
                "ORD-FIRST",
                OrderStatus::Draft,
                OrderStatus::Confirmed,
            ),
        )
        .await;
        let message = client
            .next_message(WAIT)
            .await
            .unwrap_or_else(|| panic!("attempt {attempt}: the first update was lost"));
        assert_eq!(
            message["arguments"][0]["position"],
            format!("ORDERS:{sequence}")
        );
    }
}

#[tokio::test]
async fn groups_live_as_long_as_their_members() {
    let env = Env::start().await;
    let alice = Uuid::now_v7();
    let c1 = RawClient::connect(env.addr, &token(alice, false)).await;
    let mut c2 = RawClient::connect(env.addr, &token(alice, false)).await;
    assert_eq!(env.state.groups.member_count(GroupKey::Customer(alice)), 2);
    assert_eq!(env.state.groups.group_count(), 1, "one group for both");
    drop(c1);
    until(&env.state, |s| {
        s.groups.member_count(GroupKey::Customer(alice)) == 1
    })
    .await;
    c2.send_raw("{\"type\":7}\u{1e}").await;
    until(&env.state, |s| {
        s.groups.group_count() == 0 && s.registry.is_empty()
    })
    .await;
}

#[tokio::test]
async fn protocol_violations_close_only_the_offending_connection() {
    let env = Env::start().await;
    let user = Uuid::now_v7();
    let mut healthy = RawClient::connect(env.addr, &token(user, false)).await;
    for bad in [
        "this is not json\u{1e}".to_owned(),
        "{\"type\":1}".to_owned(),
        "x".repeat(40 * 1024),
    ] {
        let mut c = RawClient::connect(env.addr, &token(Uuid::now_v7(), false)).await;
        c.send_raw(&bad).await;
        let close = c
            .next_message(Duration::from_secs(5))
            .await
            .expect("a Close message");
        assert_eq!(close["type"], 7, "{close}");
        assert!(!close["error"].as_str().unwrap().is_empty());
        assert!(close.get("allowReconnect").is_none());
        assert!(
            c.next_message(Duration::from_secs(5)).await.is_none(),
            "socket closed"
        );
    }
    let mut binary = RawClient::connect(env.addr, &token(Uuid::now_v7(), false)).await;
    binary
        .ws
        .send(Message::binary(vec![1u8, 2, 3]))
        .await
        .unwrap();
    assert_eq!(
        binary.next_message(Duration::from_secs(5)).await.unwrap()["type"],
        7
    );
    let seq = env.new_order_update(user).await;
    let got = healthy.collect(WAIT).await;
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].1["position"], format!("ORDERS:{seq}"));
}

/// No sticky sessions: the negotiate answered by one gateway and the socket opened on another
/// make one connection, as long as both share the token key; a token is bound to its user, is
/// refused when forged, and opens nothing once it expired.
#[tokio::test]
async fn a_negotiate_on_one_gateway_connects_on_another() {
    let env = Env::start().await;
    let (b, _state_b, _stop_b, _done_b) = env.another_gateway(|_| {}).await;
    let alice = Uuid::now_v7();
    let jwt = token(alice, false);
    let mut c = RawClient::connect_to(env.addr, b, &jwt, false, "").await;
    let sequence = env.new_order_update(alice).await;
    assert_eq!(
        c.collect(WAIT).await[0].1["position"],
        format!("ORDERS:{sequence}")
    );

    let connection = connection_token(env.addr, &jwt).await;
    let mut tampered = connection.clone();
    let last = if tampered.ends_with('A') { "B" } else { "A" };
    tampered.replace_range(tampered.len() - 1.., last);
    assert_eq!(refusal(b, &tampered, &jwt).await, Some(404));
    let mallory = token(Uuid::now_v7(), false);
    assert_eq!(
        refusal(b, &connection, &mallory).await,
        Some(403),
        "a token is bound to the user who negotiated"
    );
    let (c_stranger, _s, _x, _d) = env
        .another_gateway(|s| {
            s.connection_token_secret =
                Some("another-deployment-secret-0123456789abc".to_owned().into());
        })
        .await;
    assert_eq!(
        refusal(c_stranger, &connection, &jwt).await,
        Some(404),
        "another deployment's key"
    );

    let (short, _s, _x, _d) = env
        .another_gateway(|s| s.handshake_timeout = Duration::from_secs(1))
        .await;
    let expiring = connection_token(short, &jwt).await;
    tokio::time::sleep(Duration::from_millis(2100)).await;
    assert_eq!(refusal(short, &expiring, &jwt).await, Some(404), "expired");
}

#[tokio::test]
async fn admins_can_be_in_the_dashboard_from_the_start() {
    let env = Env::start().await;
    let admin = token(Uuid::now_v7(), true);
    let mut d = RawClient::connect_to(env.addr, env.addr, &admin, false, "dashboard=true").await;
    assert_eq!(env.state.groups.member_count(GroupKey::Dashboard), 1);
    let sequence = publish(
        &env.js,
        &created(Uuid::now_v7(), Uuid::now_v7(), "ORD-D", 100),
    )
    .await;
    let got = d.collect(WAIT).await;
    assert_eq!(got[0].0, "NewOrderCreated");
    assert_eq!(got[0].1["position"], format!("ORDERS:{sequence}"));

    let customer = token(Uuid::now_v7(), false);
    let url = format!(
        "http://{}/hubs/orders/negotiate?negotiateVersion=1&dashboard=true",
        env.addr
    );
    let refused = orderflow_runtime::http::client()
        .post(url)
        .bearer_auth(&customer)
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 403);
    assert_eq!(
        refused.headers()["content-type"],
        "application/problem+json"
    );
    let connection = connection_token(env.addr, &customer).await;
    let q = format!("id={connection}&dashboard=true");
    assert_eq!(
        open_socket(env.addr, &q, Some(&customer), None).await.err(),
        Some(403)
    );
    let q = format!("id={connection}&resume=ORDERS:x");
    assert_eq!(
        open_socket(env.addr, &q, Some(&customer), None).await.err(),
        Some(400),
        "a malformed position"
    );
}
