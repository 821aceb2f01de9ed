//! End-to-end: tokens from a running dev-idp are accepted by `orderflow_auth::Authenticator`
//! configured only with its JWKS URL, exactly as a service would be; and it refuses to start
//! without the explicit opt-in.

use std::process::Command;

use orderflow_auth::{AuthSettings, Authenticator};
use orderflow_dev_idp::{DevIdp, DevIdpError, DevIdpSettings, demo_users};
use serde_json::{Value, json};

async fn start() -> (String, DevIdpSettings) {
    let settings = DevIdpSettings::for_tests();
    let idp = DevIdp::build(settings.clone()).await.unwrap();
    let base = format!("http://{}", idp.local_addr());
    tokio::spawn(idp.run(std::future::pending()));
    (base, settings)
}

async fn issue(base: &str, body: Value) -> reqwest::Response {
    orderflow_runtime::http::client()
        .post(format!("{base}/dev-idp/token"))
        .json(&body)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn issued_tokens_validate_against_the_published_jwks() {
    let (base, settings) = start().await;
    let auth = Authenticator::new(AuthSettings::jwks(
        settings.issuer.clone(),
        settings.audience.clone(),
        format!("{base}/.well-known/jwks.json").parse().unwrap(),
    ))
    .unwrap();

    let jwks: Value = orderflow_runtime::http::client()
        .get(format!("{base}/.well-known/jwks.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let key = &jwks["keys"][0];
    assert_eq!(key["alg"], "ES256");
    assert_eq!(key["use"], "sig");
    assert_eq!(key["crv"], "P-256");
    assert!(key["kid"].as_str().is_some_and(|k| !k.is_empty()));
    assert!(
        key.get("d").is_none(),
        "the private scalar must never be published"
    );

    let users: Value = orderflow_runtime::http::client()
        .get(format!("{base}/dev-idp/users"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(users["users"].as_array().unwrap().len(), 3);

    for user in demo_users() {
        let response = issue(&base, json!({ "userId": user.id })).await;
        assert_eq!(response.status(), 200);
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["expiresIn"], 900);
        let token = body["accessToken"].as_str().unwrap();
        let principal = auth.authenticate(token).await.unwrap();
        assert_eq!(principal.user_id, user.id);
        assert_eq!(principal.is_admin(), user.roles.contains(&"Admin"));
    }
}

#[tokio::test]
async fn another_providers_key_or_audience_is_rejected() {
    let (base, settings) = start().await;
    let (other, _) = start().await;
    let auth = Authenticator::new(AuthSettings::jwks(
        settings.issuer.clone(),
        settings.audience.clone(),
        format!("{base}/.well-known/jwks.json").parse().unwrap(),
    ))
    .unwrap();
    let alice = demo_users()[0].id;
    // Same issuer/audience settings, different key: the other instance's token must fail.
    let body: Value = issue(&other, json!({ "userId": alice }))
        .await
        .json()
        .await
        .unwrap();
    assert!(
        auth.authenticate(body["accessToken"].as_str().unwrap())
            .await
            .is_err()
    );
    // A validator expecting a different audience rejects our token.
    let strict = Authenticator::new(AuthSettings::jwks(
        settings.issuer.clone(),
        "someone-else",
        format!("{base}/.well-known/jwks.json").parse().unwrap(),
    ))
    .unwrap();
    let body: Value = issue(&base, json!({ "userId": alice }))
        .await
        .json()
        .await
        .unwrap();
    assert!(
        strict
            .authenticate(body["accessToken"].as_str().unwrap())
            .await
            .is_err()
    );
}

#[tokio::test]
async fn unknown_users_and_bad_bodies_get_problems() {
    let (base, _) = start().await;
    let response = issue(&base, json!({ "userId": uuid::Uuid::new_v4() })).await;
    assert_eq!(response.status(), 404);
    let response = issue(&base, json!({ "user": "alice" })).await;
    assert_eq!(response.status(), 400);
}

#[tokio::test]
async fn refuses_to_start_unless_enabled() {
    let settings = DevIdpSettings {
        enabled: false,
        ..DevIdpSettings::for_tests()
    };
    assert!(matches!(
        DevIdp::build(settings).await,
        Err(DevIdpError::NotEnabled)
    ));

    let output = Command::new(env!("CARGO_BIN_EXE_dev-idp"))
        .env_remove("DEV_IDP_ENABLED")
        .args(["--listen", "127.0.0.1:0"])
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("DEV_IDP_ENABLED=true"), "{stderr}");
}
