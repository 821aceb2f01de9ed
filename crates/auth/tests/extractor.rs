//! The axum extractors on a real router: status codes, problem+json bodies, the
//! `WWW-Authenticate` challenge, and that no rejection echoes the token.

mod common;

use axum::Router;
use axum::body::Body;
use axum::extract::FromRef;
use axum::http::{Request, StatusCode, header};
use axum::response::Response;
use axum::routing::get;
use common::*;
use orderflow_auth::{
    AuthSettings, Authenticator, Principal, QueryOrHeaderPrincipal, require_admin,
};
use orderflow_runtime::Problem;
use serde_json::{Value, json};
use tower::ServiceExt;

#[derive(Clone, FromRef)]
struct AppState {
    auth: Authenticator,
}

fn app(auth: Authenticator) -> Router {
    Router::new()
        .route(
            "/me",
            get(|p: Principal| async move { p.user_id.to_string() }),
        )
        .route(
            "/admin",
            get(|p: Principal| async move { require_admin(&p).map(|()| "welcome") }),
        )
        .route(
            "/hub",
            get(|QueryOrHeaderPrincipal(p): QueryOrHeaderPrincipal| async move { p.name }),
        )
        .with_state(AppState { auth })
}

fn hs_app() -> Router {
    app(Authenticator::new(AuthSettings::hs256(ISSUER, AUDIENCE, SECRET)).unwrap())
}

async fn send(
    app: Router,
    uri: &str,
    authorization: Option<&str>,
) -> (StatusCode, Response, String) {
    let mut request = Request::get(uri);
    if let Some(value) = authorization {
        request = request.header(header::AUTHORIZATION, value);
    }
    let response = app
        .oneshot(request.body(Body::empty()).unwrap())
        .await
        .unwrap();
    let status = response.status();
    let (parts, body) = response.into_parts();
    let bytes = axum::body::to_bytes(body, 1 << 20).await.unwrap();
    let body = String::from_utf8(bytes.to_vec()).unwrap();
    (status, Response::from_parts(parts, Body::empty()), body)
}

fn assert_problem(response: &Response, body: &str, status: StatusCode, code: &str) -> Value {
    assert_eq!(
        response.headers()[header::CONTENT_TYPE],
        "application/problem+json"
    );
    let problem: Value = serde_json::from_str(body).unwrap();
    assert_eq!(problem["status"], status.as_u16());
    assert_eq!(problem["code"], code, "{problem}");
    problem
}

fn challenge(response: &Response) -> &str {
    response.headers()[header::WWW_AUTHENTICATE]
        .to_str()
        .unwrap()
}

#[tokio::test]
async fn valid_bearer_token_reaches_the_handler() {
    let token = sign_hs256(SECRET.as_bytes(), &claims());
    for scheme in ["Bearer", "bearer", "BEARER"] {
        let (status, _, body) = send(hs_app(), "/me", Some(&format!("{scheme} {token}"))).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(body, SUB);
    }
}

#[tokio::test]
async fn missing_token_is_401_with_a_bare_challenge() {
    let (status, response, body) = send(hs_app(), "/me", None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_problem(&response, &body, status, "missing_token");
    assert_eq!(challenge(&response), r#"Bearer realm="orderflow""#);
}

#[tokio::test]
async fn rejected_tokens_are_401_problems_that_never_echo_the_token() {
    let wrong_secret = sign_hs256(b"not-the-secret-not-the-secret-not-the", &claims());
    let expired = sign_hs256(SECRET.as_bytes(), &claims_with(json!({"exp": now() - 600})));
    let bad_sub = sign_hs256(SECRET.as_bytes(), &claims_with(json!({"sub": "alice"})));
    let none = hand_crafted(&json!({"alg": "none"}), &claims(), "");
    let cases = [
        (
            format!("Bearer {wrong_secret}"),
            "invalid_token",
            wrong_secret.clone(),
        ),
        (
            format!("Bearer {expired}"),
            "token_expired",
            expired.clone(),
        ),
        (
            format!("Bearer {bad_sub}"),
            "invalid_token",
            bad_sub.clone(),
        ),
        (format!("Bearer {none}"), "invalid_token", none.clone()),
        (
            format!("Basic {wrong_secret}"),
            "invalid_token",
            wrong_secret.clone(),
        ),
        (
            "Bearer not-a-jwt-at-all".to_owned(),
            "invalid_token",
            "not-a-jwt-at-all".to_owned(),
        ),
    ];
    for (authorization, code, token) in cases {
        let (status, response, body) = send(hs_app(), "/me", Some(&authorization)).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{authorization}");
        let problem = assert_problem(&response, &body, status, code);
        assert!(problem["detail"].as_str().is_some_and(|d| !d.is_empty()));
        assert_eq!(
            challenge(&response),
            r#"Bearer realm="orderflow", error="invalid_token""#
        );
        // Neither the token nor any of its segments may appear in the response.
        for fragment in
            std::iter::once(token.as_str()).chain(token.split('.').filter(|s| s.len() > 8))
        {
            assert!(!body.contains(fragment), "body echoes the token: {body}");
        }
        assert!(!body.contains("alice"), "body echoes a claim value: {body}");
    }
}

#[tokio::test]
async fn require_admin_gives_403_to_non_admins() {
    let user = sign_hs256(
        SECRET.as_bytes(),
        &claims_with(json!({"roles": ["Support"]})),
    );
    let (status, response, body) = send(hs_app(), "/admin", Some(&format!("Bearer {user}"))).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_problem(&response, &body, status, "forbidden");

    let admin = sign_hs256(SECRET.as_bytes(), &claims_with(json!({"role": "Admin"})));
    let (status, _, body) = send(hs_app(), "/admin", Some(&format!("Bearer {admin}"))).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, "welcome");

    let problem: Problem = require_admin(&hs_principal(&user).await).unwrap_err();
    assert_eq!(problem.status, 403);
}

async fn hs_principal(token: &str) -> Principal {
    let auth = Authenticator::new(AuthSettings::hs256(ISSUER, AUDIENCE, SECRET)).unwrap();
    auth.authenticate(token).await.unwrap()
}

#[tokio::test]
async fn websocket_extractor_accepts_the_query_parameter_or_the_header() {
    let token = sign_hs256(SECRET.as_bytes(), &claims());
    let (status, _, body) =
        send(hs_app(), &format!("/hub?id=abc&access_token={token}"), None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, "Ada Lovelace");
    let (status, _, _) = send(hs_app(), "/hub", Some(&format!("Bearer {token}"))).await;
    assert_eq!(status, StatusCode::OK);

    // The plain Principal extractor ignores the query string: tokens in URLs are for WebSockets.
    let (status, _, _) = send(hs_app(), &format!("/me?access_token={token}"), None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    let forged = sign_hs256(b"not-the-secret-not-the-secret-not-the", &claims());
    let (status, response, body) =
        send(hs_app(), &format!("/hub?access_token={forged}"), None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_problem(&response, &body, status, "invalid_token");
    assert!(!body.contains(&forged));
}

#[tokio::test]
async fn unreachable_key_server_is_503_not_401() {
    let auth = Authenticator::new(AuthSettings::jwks(
        ISSUER,
        AUDIENCE,
        "http://127.0.0.1:1/jwks.json".parse().unwrap(),
    ))
    .unwrap();
    let token = sign(
        jsonwebtoken::Algorithm::RS256,
        &rsa_key(RSA1_PEM),
        Some("rsa-1"),
        &claims(),
    );
    let (status, response, body) = send(app(auth), "/me", Some(&format!("Bearer {token}"))).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_problem(&response, &body, status, "auth_keys_unavailable");
    assert!(response.headers().get(header::WWW_AUTHENTICATE).is_none());
    assert!(
        !body.contains("127.0.0.1"),
        "internal causes stay in the logs: {body}"
    );
}
