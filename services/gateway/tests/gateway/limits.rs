//! Limits and liveness: per-user connection cap, invocation rate limit, server pings when idle,
//! the client timeout, and the Prometheus metrics.

use std::time::Duration;

use crate::support::*;
use serde_json::json;
use uuid::Uuid;

#[tokio::test]
async fn per_user_connection_cap() {
    let env = Env::start_with(|s| s.max_connections_per_user = 2).await;
    let user = Uuid::now_v7();
    let jwt = token(user, false);
    let early = connection_token(env.addr, &jwt).await;
    let _a = RawClient::connect(env.addr, &jwt).await;
    let _b = RawClient::connect(env.addr, &jwt).await;
    assert_eq!(negotiate(env.addr, &jwt, false).await.status(), 429);
    let q = format!("id={early}");
    assert_eq!(
        open_socket(env.addr, &q, Some(&jwt), None).await.err(),
        Some(429),
        "the socket of a negotiate made before the cap was reached"
    );
    assert_eq!(
        negotiate(env.addr, &token(Uuid::now_v7(), false), false)
            .await
            .status(),
        200,
        "others unaffected"
    );
}

#[tokio::test]
async fn invocation_rate_limit() {
    let env = Env::start_with(|s| s.invocations_per_second = 2).await;
    let mut c = RawClient::connect(env.addr, &token(Uuid::now_v7(), false)).await;
    let mut errors = 0;
    for _ in 0..5 {
        let (done, _) = c.invoke("LeaveAdminDashboard", json!([])).await;
        if done["error"]
            .as_str()
            .is_some_and(|e| e.contains("Too many invocations"))
        {
            errors += 1;
        }
    }
    assert!(errors >= 2, "only the burst passes, got {errors} refusals");
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let (done, _) = c.invoke("LeaveAdminDashboard", json!([])).await;
    assert!(done.get("error").is_none(), "tokens refill: {done}");
}

#[tokio::test]
async fn idle_connections_get_pings_and_silent_clients_time_out() {
    let env = Env::start_with(|s| {
        s.keep_alive = Duration::from_millis(200);
        s.client_timeout = Duration::from_millis(800);
    })
    .await;
    let mut c = RawClient::connect(env.addr, &token(Uuid::now_v7(), false)).await;
    // `next_text` sees pings (next_message hides them).
    let ping = tokio::time::timeout(Duration::from_secs(2), next_text(&mut c.ws))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(ping, "{\"type\":6}\u{1e}");
    // The client pinged once at connect and is silent since: it is dropped after the timeout.
    let closed = tokio::time::timeout(Duration::from_secs(3), async {
        while next_text(&mut c.ws).await.is_some() {}
    })
    .await;
    assert!(closed.is_ok(), "silent client was disconnected");
    until(&env.state, |s| s.registry.is_empty()).await;
}

#[tokio::test]
async fn metrics_and_health_endpoints() {
    let env = Env::start().await;
    let _c = RawClient::connect(env.addr, &token(Uuid::now_v7(), false)).await;
    let base = format!("http://{}", env.addr);
    for probe in ["healthz", "readyz"] {
        let status = orderflow_runtime::http::client()
            .get(format!("{base}/{probe}"))
            .send()
            .await
            .unwrap()
            .status();
        assert_eq!(status, 200, "{probe}");
    }
    let metrics = orderflow_runtime::http::client()
        .get(format!("{base}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for name in [
        "gateway_connections",
        "gateway_groups",
        "gateway_feed_position{stream=\"ORDERS\"}",
    ] {
        assert!(metrics.contains(name), "{name} missing from /metrics");
    }
}
