//! HS256 (shared secret) validation against real tokens signed by `jsonwebtoken`.

mod common;

use std::time::Duration;

use common::*;
use jsonwebtoken::Algorithm;
use orderflow_auth::{AuthError, AuthSettings, Authenticator, dev};
use serde_json::{Value, json};
use uuid::Uuid;

fn authenticator() -> Authenticator {
    Authenticator::new(AuthSettings::hs256(ISSUER, AUDIENCE, SECRET)).unwrap()
}

/// Authenticates a token carrying the default claims with `changes` applied.
async fn check(changes: Value) -> Result<orderflow_auth::Principal, AuthError> {
    authenticator()
        .authenticate(&sign_hs256(SECRET.as_bytes(), &claims_with(changes)))
        .await
}

#[tokio::test]
async fn valid_token_yields_principal() {
    let principal = check(json!({"roles": ["Admin"]})).await.unwrap();
    assert_eq!(principal.user_id, Uuid::parse_str(SUB).unwrap());
    assert_eq!(principal.name, "Ada Lovelace");
    assert_eq!(principal.roles, ["Admin"]);
    assert!(principal.is_admin());
    assert_eq!(
        principal.expires_at.unix_timestamp(),
        claims()["exp"].as_i64().unwrap()
    );
}

#[tokio::test]
async fn expiry_and_not_before_honour_the_leeway() {
    // Default leeway is 30 s: 10 s past exp still passes, 120 s past does not.
    assert!(check(json!({"exp": now() - 10})).await.is_ok());
    assert_eq!(
        check(json!({"exp": now() - 120})).await.unwrap_err(),
        AuthError::Expired
    );
    assert!(check(json!({"nbf": now() + 10})).await.is_ok());
    assert_eq!(
        check(json!({"nbf": now() + 120})).await.unwrap_err(),
        AuthError::NotYetValid
    );

    let strict = Authenticator::new(
        AuthSettings::hs256(ISSUER, AUDIENCE, SECRET).with_leeway(Duration::ZERO),
    )
    .unwrap();
    let token = sign_hs256(SECRET.as_bytes(), &claims_with(json!({"exp": now() - 10})));
    assert_eq!(
        strict.authenticate(&token).await.unwrap_err(),
        AuthError::Expired
    );
}

#[tokio::test]
async fn exp_iss_and_aud_are_required() {
    for claim in ["exp", "iss", "aud"] {
        let err = check(json!({ claim: null })).await.unwrap_err();
        assert_eq!(
            err,
            AuthError::MissingClaim(claim.to_owned()),
            "without {claim}"
        );
    }
    let err = check(json!({"sub": null})).await.unwrap_err();
    assert_eq!(err, AuthError::MissingClaim("sub".to_owned()));
}

#[tokio::test]
async fn wrong_issuer_or_audience_is_rejected() {
    let err = check(json!({"iss": "https://evil.test"}))
        .await
        .unwrap_err();
    assert_eq!(err, AuthError::InvalidIssuer);
    let err = check(json!({"aud": "someone-else"})).await.unwrap_err();
    assert_eq!(err, AuthError::InvalidAudience);
    // An audience array is fine as long as it contains ours.
    assert!(check(json!({"aud": ["other", AUDIENCE]})).await.is_ok());
}

#[tokio::test]
async fn wrong_secret_is_an_invalid_signature() {
    let token = sign_hs256(b"another-secret-another-secret-another", &claims());
    let err = authenticator().authenticate(&token).await.unwrap_err();
    assert_eq!(err, AuthError::InvalidSignature);
}

#[tokio::test]
async fn alg_none_is_rejected() {
    for alg in ["none", "None", "NONE"] {
        let token = hand_crafted(&json!({"alg": alg, "typ": "JWT"}), &claims(), "");
        let err = authenticator().authenticate(&token).await.unwrap_err();
        assert_eq!(err, AuthError::AlgorithmNotAllowed(alg.to_owned()));
    }
}

#[tokio::test]
async fn asymmetric_tokens_are_rejected_in_secret_mode() {
    let token = sign(
        Algorithm::RS256,
        &rsa_key(RSA1_PEM),
        Some("rsa-1"),
        &claims(),
    );
    let err = authenticator().authenticate(&token).await.unwrap_err();
    assert_eq!(err, AuthError::AlgorithmNotAllowed("RS256".to_owned()));
    // HS512 with the right secret is still not HS256.
    let token = jsonwebtoken::encode(
        &jsonwebtoken::Header::new(Algorithm::HS512),
        &claims(),
        &jsonwebtoken::EncodingKey::from_secret(SECRET.as_bytes()),
    )
    .unwrap();
    let err = authenticator().authenticate(&token).await.unwrap_err();
    assert_eq!(err, AuthError::AlgorithmNotAllowed("HS512".to_owned()));
}

#[tokio::test]
async fn sub_must_be_a_uuid() {
    let err = check(json!({"sub": "alice"})).await.unwrap_err();
    assert!(
        matches!(err, AuthError::InvalidClaim { ref claim, .. } if claim == "sub"),
        "{err:?}"
    );
    assert!(
        !err.to_string().contains("alice"),
        "the error must not echo claim values"
    );
}

#[tokio::test]
async fn roles_accept_strings_and_arrays_under_role_and_roles() {
    let cases = [
        (json!({"role": "Admin"}), vec!["Admin"]),
        (
            json!({"role": ["Admin", "Support"]}),
            vec!["Admin", "Support"],
        ),
        (json!({"roles": "Support"}), vec!["Support"]),
        (
            json!({"roles": ["Support", "Admin"]}),
            vec!["Support", "Admin"],
        ),
        (
            json!({"role": "Admin", "roles": ["Admin", "Auditor"]}),
            vec!["Admin", "Auditor"],
        ),
        (json!({}), vec![]),
    ];
    for (extra, expected) in cases {
        let principal = check(extra.clone()).await.unwrap();
        assert_eq!(principal.roles, expected, "for {extra}");
        assert_eq!(
            principal.is_admin(),
            expected.contains(&"Admin"),
            "for {extra}"
        );
    }
    let err = check(json!({"roles": {"admin": true}})).await.unwrap_err();
    assert!(matches!(err, AuthError::InvalidClaim { ref claim, .. } if claim == "roles"));
}

#[tokio::test]
async fn malformed_tokens_are_rejected_without_echoing_them() {
    let auth = authenticator();
    for token in ["", "abc", "a.b", "a.b.c.d", "!!!.e30.sig", "e30.e30.sig"] {
        let err = auth.authenticate(token).await.unwrap_err();
        assert_eq!(err, AuthError::Malformed, "for {token:?}");
    }
    let long = format!("{}.e30.x", "a".repeat(20_000));
    assert_eq!(
        auth.authenticate(&long).await.unwrap_err(),
        AuthError::Malformed
    );
}

#[tokio::test]
async fn dev_issuer_round_trips_with_dev_settings() {
    let auth = Authenticator::new(AuthSettings::dev()).unwrap();
    let sub = Uuid::new_v4();
    let token = dev::issue_hs256(
        dev::SECRET,
        dev::DevClaims::new(sub)
            .name("Dev Admin")
            .role("Admin")
            .role("Support"),
    );
    let principal = auth.authenticate(&token).await.unwrap();
    assert_eq!(principal.user_id, sub);
    assert_eq!(principal.name, "Dev Admin");
    assert_eq!(principal.roles, ["Admin", "Support"]);
    let lifetime = principal.expires_at.unix_timestamp() - now();
    assert!((3590..=3600).contains(&lifetime), "lifetime {lifetime}");

    // A dev token is worthless to a service configured with another secret.
    assert_eq!(
        authenticator().authenticate(&token).await.unwrap_err(),
        AuthError::InvalidSignature
    );
}

#[tokio::test]
async fn dev_users_are_who_they_say() {
    let auth = Authenticator::new(AuthSettings::dev()).unwrap();
    let customer = dev::DevUser::customer("Carl Customer");
    let principal = auth.authenticate(&customer.token).await.unwrap();
    assert_eq!(principal.user_id, customer.id);
    assert_eq!(principal.name, "Carl Customer");
    assert!(!principal.is_admin());
    let admin = dev::DevUser::admin();
    let principal = auth.authenticate(&admin.token).await.unwrap();
    assert_eq!(principal.user_id, admin.id);
    assert!(principal.is_admin());
    assert_ne!(customer.id, admin.id, "each user is new");
}

#[test]
fn configuration_is_checked() {
    let short = Authenticator::new(AuthSettings::hs256(ISSUER, AUDIENCE, "too-short"));
    assert!(matches!(short, Err(AuthError::Config(_))));
    let empty_issuer = Authenticator::new(AuthSettings::hs256("", AUDIENCE, SECRET));
    assert!(matches!(empty_issuer, Err(AuthError::Config(_))));
    let mut both = AuthSettings::hs256(ISSUER, AUDIENCE, SECRET);
    both.jwks_url = Some("http://127.0.0.1:1/jwks".parse().unwrap());
    assert!(matches!(
        Authenticator::new(both),
        Err(AuthError::Config(_))
    ));
    let mut neither = AuthSettings::hs256(ISSUER, AUDIENCE, SECRET);
    neither.hs256_secret = None;
    assert!(matches!(
        Authenticator::new(neither),
        Err(AuthError::Config(_))
    ));
    let ftp = AuthSettings::jwks(ISSUER, AUDIENCE, "ftp://idp/jwks".parse().unwrap());
    assert!(matches!(Authenticator::new(ftp), Err(AuthError::Config(_))));

    let debug = format!("{:?}", AuthSettings::hs256(ISSUER, AUDIENCE, SECRET));
    assert!(
        !debug.contains(SECRET),
        "Debug must not print the secret: {debug}"
    );
}
