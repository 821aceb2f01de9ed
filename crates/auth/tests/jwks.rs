//! JWKS mode against a real HTTP server: RS256/ES256 verification, `kid` caching, refetch
//! cool-down, single-flight fetches, rotation, outages, and algorithm pinning.

mod common;

use std::time::Duration;

use axum::http::StatusCode;
use common::*;
use jsonwebtoken::{Algorithm, jwk::Jwk};
use orderflow_auth::{AuthError, AuthSettings, Authenticator};
use serde_json::json;

/// Long enough that the "within the cool-down" steps of a test always fit inside it on a busy
/// machine, short enough to keep the suite quick.
const COOLDOWN: Duration = Duration::from_millis(1500);
const PAST_COOLDOWN: Duration = Duration::from_millis(1600);

fn authenticator(server: &JwksServer, cooldown: Duration) -> Authenticator {
    Authenticator::new(
        AuthSettings::jwks(ISSUER, AUDIENCE, server.url.clone()).with_jwks_cooldown(cooldown),
    )
    .unwrap()
}

/// The provider's entry for an RS256 key.
fn rsa_jwk(pem: &str, kid: &str) -> Jwk {
    jwk(&rsa_key(pem), Algorithm::RS256, kid)
}

/// A document with the RSA key `rsa-1` and the EC key `ec-1`.
fn rsa_and_ec_keys() -> serde_json::Value {
    key_set(vec![
        rsa_jwk(RSA1_PEM, "rsa-1"),
        jwk(&ec_key(EC1_PEM), Algorithm::ES256, "ec-1"),
    ])
}

/// A provider serving `rsa-1`, and an authenticator whose cache holds it after one fetch.
async fn rsa1_cached() -> (JwksServer, Authenticator) {
    let server = JwksServer::start(key_set(vec![rsa_jwk(RSA1_PEM, "rsa-1")])).await;
    let auth = authenticator(&server, COOLDOWN);
    auth.authenticate(&rs(RSA1_PEM, "rsa-1")).await.unwrap();
    assert_eq!(server.fetches(), 1);
    (server, auth)
}

fn rs(pem: &str, kid: &str) -> String {
    sign(Algorithm::RS256, &rsa_key(pem), Some(kid), &claims())
}

#[tokio::test]
async fn rs256_and_es256_tokens_verify_with_one_fetch() {
    let server = JwksServer::start(rsa_and_ec_keys()).await;
    let auth = authenticator(&server, COOLDOWN);

    let principal = auth.authenticate(&rs(RSA1_PEM, "rsa-1")).await.unwrap();
    assert_eq!(principal.user_id.to_string(), SUB);
    let es = sign(Algorithm::ES256, &ec_key(EC1_PEM), Some("ec-1"), &claims());
    auth.authenticate(&es).await.unwrap();
    auth.authenticate(&rs(RSA1_PEM, "rsa-1")).await.unwrap();
    assert_eq!(server.fetches(), 1, "keys are cached by kid");

    // Signed by another RSA key under a known kid: a signature failure, not a refetch.
    let forged = rs(RSA2_PEM, "rsa-1");
    assert_eq!(
        auth.authenticate(&forged).await.unwrap_err(),
        AuthError::InvalidSignature
    );
    // The usual claim checks apply in JWKS mode too.
    let expired = sign(
        Algorithm::RS256,
        &rsa_key(RSA1_PEM),
        Some("rsa-1"),
        &claims_with(json!({"exp": now() - 600})),
    );
    assert_eq!(
        auth.authenticate(&expired).await.unwrap_err(),
        AuthError::Expired
    );
    assert_eq!(server.fetches(), 1);
}

#[tokio::test]
async fn unknown_kid_refetches_at_most_once_per_cooldown_and_rotation_is_picked_up() {
    let (server, auth) = rsa1_cached().await;

    // Right after a fetch an unknown kid is refused without asking the provider again.
    let err = auth.authenticate(&rs(RSA2_PEM, "rsa-2")).await.unwrap_err();
    assert_eq!(err, AuthError::UnknownKeyId("rsa-2".to_owned()));
    assert_eq!(server.fetches(), 1);

    // After the cool-down an unknown kid triggers exactly one refetch...
    tokio::time::sleep(PAST_COOLDOWN).await;
    let err = auth.authenticate(&rs(RSA2_PEM, "rsa-2")).await.unwrap_err();
    assert_eq!(err, AuthError::UnknownKeyId("rsa-2".to_owned()));
    assert_eq!(server.fetches(), 2);
    // ...and a burst of unknown kids within the cool-down triggers none.
    let burst = (0..20).map(|i| {
        let auth = auth.clone();
        let token = rs(RSA2_PEM, &format!("made-up-{i}"));
        tokio::spawn(async move { auth.authenticate(&token).await })
    });
    for handle in burst {
        assert!(matches!(
            handle.await.unwrap(),
            Err(AuthError::UnknownKeyId(_))
        ));
    }
    assert_eq!(server.fetches(), 2);

    // The provider rotates: rsa-2 replaces rsa-1. Not visible until the cool-down has passed.
    server.set_reply(Reply::Document(key_set(vec![rsa_jwk(RSA2_PEM, "rsa-2")])));
    assert!(matches!(
        auth.authenticate(&rs(RSA2_PEM, "rsa-2")).await,
        Err(AuthError::UnknownKeyId(_))
    ));
    assert_eq!(server.fetches(), 2);
    tokio::time::sleep(PAST_COOLDOWN).await;
    auth.authenticate(&rs(RSA2_PEM, "rsa-2")).await.unwrap();
    assert_eq!(server.fetches(), 3);
    // The retired key is gone with the old document.
    let err = auth.authenticate(&rs(RSA1_PEM, "rsa-1")).await.unwrap_err();
    assert_eq!(err, AuthError::UnknownKeyId("rsa-1".to_owned()));
    assert_eq!(server.fetches(), 3);
}

#[tokio::test]
async fn concurrent_misses_share_one_fetch() {
    let server = JwksServer::start(key_set(vec![rsa_jwk(RSA1_PEM, "rsa-1")])).await;
    server.set_slow(true);
    // No cool-down at all: only single-flight stands between 50 requests and 50 fetches.
    let auth = authenticator(&server, Duration::ZERO);
    let burst = |kid: &str| {
        let token = rs(RSA1_PEM, kid);
        (0..50)
            .map(|_| {
                let (auth, token) = (auth.clone(), token.clone());
                tokio::spawn(async move { auth.authenticate(&token).await })
            })
            .collect::<Vec<_>>()
    };
    // Cold cache, known kid: everyone waits for the first fetch.
    for task in burst("rsa-1") {
        task.await.unwrap().unwrap();
    }
    assert_eq!(server.fetches(), 1);
    // Warm cache, unknown kid: one refetch answers all 50 misses.
    for task in burst("rsa-9") {
        assert!(matches!(
            task.await.unwrap(),
            Err(AuthError::UnknownKeyId(_))
        ));
    }
    assert_eq!(server.fetches(), 2);
}

#[tokio::test]
async fn fetch_failures_do_not_poison_the_cache() {
    let (server, auth) = rsa1_cached().await;

    // Provider answers 500: the unknown kid is reported as unavailable keys (a 503, not the
    // client's fault) and the cached key keeps working.
    server.set_reply(Reply::Status(StatusCode::INTERNAL_SERVER_ERROR));
    tokio::time::sleep(PAST_COOLDOWN).await;
    let err = auth.authenticate(&rs(RSA2_PEM, "rsa-2")).await.unwrap_err();
    assert!(matches!(err, AuthError::KeysUnavailable(_)), "{err:?}");
    assert_eq!(err.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(server.fetches(), 2);
    auth.authenticate(&rs(RSA1_PEM, "rsa-1")).await.unwrap();
    // The failure also counts for the cool-down: no hammering a struggling provider.
    assert!(auth.authenticate(&rs(RSA2_PEM, "rsa-2")).await.is_err());
    assert_eq!(server.fetches(), 2);

    // A document without usable keys (only an encryption key and a symmetric key) is a
    // failure too, not a reason to forget rsa-1.
    let mut encryption = rsa_jwk(RSA2_PEM, "enc-1");
    encryption.common.public_key_use = Some(jsonwebtoken::jwk::PublicKeyUse::Encryption);
    let oct = json!({"kty": "oct", "kid": "hmac", "k": "c2VjcmV0"});
    let mut doc = key_set(vec![encryption]);
    doc["keys"].as_array_mut().unwrap().push(oct);
    server.set_reply(Reply::Document(doc));
    tokio::time::sleep(PAST_COOLDOWN).await;
    assert!(matches!(
        auth.authenticate(&rs(RSA2_PEM, "enc-1")).await,
        Err(AuthError::KeysUnavailable(_))
    ));
    assert_eq!(server.fetches(), 3);
    auth.authenticate(&rs(RSA1_PEM, "rsa-1")).await.unwrap();

    // The provider recovers; the next allowed fetch brings the new key in.
    server.set_reply(Reply::Document(key_set(vec![
        rsa_jwk(RSA1_PEM, "rsa-1"),
        rsa_jwk(RSA2_PEM, "rsa-2"),
    ])));
    tokio::time::sleep(PAST_COOLDOWN).await;
    auth.authenticate(&rs(RSA2_PEM, "rsa-2")).await.unwrap();
    assert_eq!(server.fetches(), 4);
}

#[tokio::test]
async fn hs256_signed_with_the_rsa_public_key_is_rejected() {
    let server = JwksServer::start(key_set(vec![rsa_jwk(RSA1_PEM, "rsa-1")])).await;
    let auth = authenticator(&server, COOLDOWN);
    // The classic confusion attack: use the (public) PEM as an HMAC secret.
    let forged = sign_hs256(RSA1_PUBLIC_PEM.as_bytes(), &claims());
    let forged_with_kid = sign(
        Algorithm::HS256,
        &jsonwebtoken::EncodingKey::from_secret(RSA1_PUBLIC_PEM.as_bytes()),
        Some("rsa-1"),
        &claims(),
    );
    for token in [forged, forged_with_kid] {
        let err = auth.authenticate(&token).await.unwrap_err();
        assert_eq!(err, AuthError::AlgorithmNotAllowed("HS256".to_owned()));
    }
    let none = hand_crafted(&json!({"alg": "none", "kid": "rsa-1"}), &claims(), "");
    assert_eq!(
        auth.authenticate(&none).await.unwrap_err(),
        AuthError::AlgorithmNotAllowed("none".to_owned())
    );
    assert_eq!(server.fetches(), 0, "rejected before any key lookup");
}

#[tokio::test]
async fn each_key_verifies_only_its_own_algorithm() {
    let server = JwksServer::start(rsa_and_ec_keys()).await;
    let auth = authenticator(&server, COOLDOWN);
    // An ES256 token naming the RSA key's kid.
    let token = sign(Algorithm::ES256, &ec_key(EC1_PEM), Some("rsa-1"), &claims());
    let err = auth.authenticate(&token).await.unwrap_err();
    assert!(
        matches!(err, AuthError::KeyAlgorithmMismatch { ref kid, .. } if kid == "rsa-1"),
        "{err:?}"
    );
    // RS384 is not on the list even with a valid RSA signature.
    let token = sign(
        Algorithm::RS384,
        &rsa_key(RSA1_PEM),
        Some("rsa-1"),
        &claims(),
    );
    assert_eq!(
        auth.authenticate(&token).await.unwrap_err(),
        AuthError::AlgorithmNotAllowed("RS384".to_owned())
    );
    // JWKS tokens must name their key.
    let token = sign(Algorithm::RS256, &rsa_key(RSA1_PEM), None, &claims());
    assert_eq!(
        auth.authenticate(&token).await.unwrap_err(),
        AuthError::MissingKeyId
    );
}

#[tokio::test]
async fn refresh_keys_warms_up_and_reports_outages() {
    let server = JwksServer::start(rsa_and_ec_keys()).await;
    let auth = authenticator(&server, COOLDOWN);
    assert_eq!(auth.refresh_keys().await, Ok(2));
    auth.authenticate(&rs(RSA1_PEM, "rsa-1")).await.unwrap();
    assert_eq!(server.fetches(), 1);

    let unreachable = Authenticator::new(AuthSettings::jwks(
        ISSUER,
        AUDIENCE,
        "http://127.0.0.1:1/jwks.json".parse().unwrap(),
    ))
    .unwrap();
    assert!(matches!(
        unreachable.refresh_keys().await,
        Err(AuthError::KeysUnavailable(_))
    ));
    let err = unreachable
        .authenticate(&rs(RSA1_PEM, "rsa-1"))
        .await
        .unwrap_err();
    assert!(matches!(err, AuthError::KeysUnavailable(_)), "{err:?}");
}
