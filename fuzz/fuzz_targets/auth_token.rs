//! `auth_token`: credentials through `orderflow-auth` — the `Authorization: Bearer` header
//! parser, the `access_token` query parameter, and `Authenticator::authenticate` with a fixed
//! HS256 key — and the gateway's connection tokens (`id=` of the hub URL).
//!
//! Input: `orderflow_fuzz::token::TokenInput`. Besides raw headers, URIs and tokens, the target
//! assembles and signs tokens from fuzzed header and claims JSON, so the checks behind the
//! signature (algorithm, `exp`/`nbf`, `iss`, `aud`, `sub`, roles) are reached too.
//!
//! The property: a token is accepted only if an independent check finds it signed by the key
//! (HMAC-SHA256 over its first two parts), with `alg` HS256, the right issuer and audience, an
//! unexpired `exp`, an `nbf` not in the future and a `sub` that is the principal's id; refusals
//! are 401s whose text never contains the token. Connection tokens are accepted only with a
//! valid tag under the gateway key.

#![no_main]

use std::sync::LazyLock;
use std::time::{SystemTime, UNIX_EPOCH};

use axum::http::header::AUTHORIZATION;
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use libfuzzer_sys::fuzz_target;
use orderflow_auth::{
    AuthError, AuthSettings, Authenticator, DEFAULT_LEEWAY, Principal, bearer_token,
    token_from_query_or_header,
};
use orderflow_fuzz::now_or_never;
use orderflow_fuzz::token::{
    AUDIENCE, CONNECTION_SECRET, FAR_FUTURE, ISSUER, SECRET, Signature, TokenInput, assemble,
    hs256, signed_by_secret,
};
use orderflow_gateway::connection_token::{self, TokenError, TokenKey};
use serde_json::{Map, Value, json};

static AUTHENTICATOR: LazyLock<Authenticator> = LazyLock::new(|| {
    let auth =
        Authenticator::new(AuthSettings::hs256(ISSUER, AUDIENCE, SECRET)).expect("valid settings");
    // The property below is only worth something if good tokens do get through.
    let good = assemble(
        br#"{"alg":"HS256","typ":"JWT"}"#,
        json!({"sub": "01930000-0000-7000-8000-00000000a11c", "iss": ISSUER, "aud": AUDIENCE,
               "exp": FAR_FUTURE, "roles": ["Admin"]})
        .to_string()
        .as_bytes(),
        Signature::Right,
    );
    let principal = now_or_never(auth.authenticate(&good)).expect("a good token is accepted");
    assert!(principal.is_admin());
    auth
});

static CONNECTION_KEY: LazyLock<TokenKey> =
    LazyLock::new(|| TokenKey::from_secret(CONNECTION_SECRET));

fuzz_target!(init: orderflow_fuzz::check_layouts(), |input: TokenInput<'_>| {
    match input {
        TokenInput::Header(value) => {
            let Ok(value) = HeaderValue::from_bytes(value) else {
                return;
            };
            let mut headers = HeaderMap::new();
            headers.insert(AUTHORIZATION, value.clone());
            match bearer_token(&headers) {
                Ok(Some(token)) => {
                    let text = value.to_str().expect("a bearer credential is text");
                    let (scheme, rest) = text.split_once(' ').expect("scheme and token");
                    assert!(scheme.eq_ignore_ascii_case("bearer"), "{text:?}");
                    assert_eq!(rest.trim(), token);
                    assert!(!token.is_empty());
                    check_token(token);
                }
                Ok(None) => unreachable!("the header is present"),
                Err(error) => assert_eq!(error, AuthError::InvalidAuthorizationHeader),
            }
            // The gateway's lookup falls back to the same header.
            let uri = Uri::from_static("/hubs/orders");
            let fallback = token_from_query_or_header(&uri, &headers);
            assert_eq!(
                fallback.as_deref().ok(),
                bearer_token(&headers).ok().flatten()
            );
        }
        TokenInput::Uri(text) => {
            let Ok(uri) = text.parse::<Uri>() else {
                return;
            };
            match token_from_query_or_header(&uri, &HeaderMap::new()) {
                Ok(token) => {
                    assert!(!token.is_empty());
                    check_token(&token);
                }
                Err(error) => assert_eq!(error, AuthError::MissingToken),
            }
        }
        TokenInput::Raw(token) => {
            check_token(token);
        }
        TokenInput::Signed {
            signature,
            header,
            claims,
        } => {
            let token = assemble(header, claims, signature);
            let accepted = check_token(&token);
            if accepted {
                assert!(
                    matches!(signature, Signature::Right | Signature::Tampered(_)),
                    "accepted a token signed with {signature:?}"
                );
            }
        }
        TokenInput::Connection(token) => check_connection_token(token),
    }
});

fn unix_now() -> i64 {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    i64::try_from(secs).unwrap_or(i64::MAX)
}

/// Authenticates `token`; if accepted, checks it independently. Returns whether it was.
fn check_token(token: &str) -> bool {
    match now_or_never(AUTHENTICATOR.authenticate(token)) {
        Ok(principal) => {
            check_accepted(token, &principal);
            true
        }
        Err(error) => {
            assert_eq!(error.status(), StatusCode::UNAUTHORIZED, "{error:?}");
            let text = error.to_string();
            assert!(text.chars().count() <= 200, "{text:?}");
            if token.len() > 64 {
                assert!(!text.contains(token), "the error echoes the token");
            }
            let problem = error.to_problem();
            assert_eq!(problem.status, 401);
            false
        }
    }
}

fn segment(token: &str, i: usize) -> Map<String, Value> {
    let part = token.split('.').nth(i).expect("three parts");
    let bytes = URL_SAFE_NO_PAD.decode(part).expect("base64url");
    serde_json::from_slice(&bytes).expect("a JSON object")
}

/// What every accepted token must satisfy, checked without the code under test.
fn check_accepted(token: &str, principal: &Principal) {
    assert!(
        signed_by_secret(token),
        "accepted a token not signed by the key"
    );
    assert_eq!(token.split('.').count(), 3);
    let header = segment(token, 0);
    assert_eq!(header.get("alg"), Some(&Value::from("HS256")));
    let claims = segment(token, 1);
    assert_eq!(claims.get("iss"), Some(&Value::from(ISSUER)), "{claims:?}");
    let audience_ok = match claims.get("aud") {
        Some(Value::String(aud)) => aud == AUDIENCE,
        Some(Value::Array(auds)) => auds.iter().any(|a| a == AUDIENCE),
        _ => false,
    };
    assert!(audience_ok, "{claims:?}");
    let leeway = i64::try_from(DEFAULT_LEEWAY.as_secs()).expect("small leeway");
    let now = unix_now();
    let exp = claims
        .get("exp")
        .and_then(Value::as_f64)
        .expect("a numeric exp");
    assert!(exp + leeway as f64 >= now as f64, "expired: {claims:?}");
    assert_eq!(principal.expires_at.unix_timestamp(), exp.floor() as i64);
    if let Some(nbf) = claims.get("nbf").filter(|v| !v.is_null()) {
        let nbf = nbf.as_f64().expect("a numeric nbf");
        assert!(nbf <= (now + leeway) as f64, "not yet valid: {claims:?}");
    }
    let sub = claims.get("sub").and_then(Value::as_str).expect("sub");
    assert_eq!(uuid::Uuid::parse_str(sub).ok(), Some(principal.user_id));
    for role in &principal.roles {
        let listed = |claim: &str| match claims.get(claim) {
            Some(Value::String(r)) => r == role,
            Some(Value::Array(rs)) => rs.iter().any(|r| r == role.as_str()),
            _ => false,
        };
        assert!(
            listed("role") || listed("roles"),
            "{role:?} not in {claims:?}"
        );
    }
}

fn check_connection_token(token: &str) {
    let result = connection_token::verify(&CONNECTION_KEY, token, 0);
    let Ok(ticket) = result else {
        assert_eq!(result, Err(TokenError::Invalid));
        return;
    };
    // Accepted: canonical base64url of id (16) + user (16) + expiry (8) + flags (1) + tag (16),
    // the tag being the first 16 bytes of HMAC-SHA256 of the rest under the key.
    let raw = URL_SAFE_NO_PAD.decode(token).expect("base64url");
    assert_eq!(raw.len(), 57);
    assert_eq!(URL_SAFE_NO_PAD.encode(&raw), token);
    let (body, tag) = raw.split_at(41);
    assert_eq!(
        &hs256(CONNECTION_SECRET, body)[..16],
        tag,
        "accepted a bad tag"
    );
    assert_eq!(ticket.user_id.as_bytes(), &body[16..32]);
    assert_eq!(ticket.expires_at.to_be_bytes(), body[32..40]);
    assert_eq!(ticket.connection_id, URL_SAFE_NO_PAD.encode(&body[..16]));
    // Expiry: refused after it, accepted up to it.
    let at_expiry = connection_token::verify(&CONNECTION_KEY, token, ticket.expires_at);
    assert_eq!(at_expiry.as_ref().ok(), Some(&ticket));
    if ticket.expires_at < u64::MAX {
        let after = connection_token::verify(&CONNECTION_KEY, token, ticket.expires_at + 1);
        assert_eq!(after, Err(TokenError::Expired));
    }
}
