//! Test helpers: token crafting with the real `jsonwebtoken` signer, the committed test keys,
//! and a real JWKS server on 127.0.0.1:0 that counts its fetches.
#![allow(dead_code)] // each test binary uses a different subset

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::jwk::{Jwk, JwkSet};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};

pub const ISSUER: &str = "https://idp.test";
pub const AUDIENCE: &str = "orderflow-tests";
pub const SECRET: &str = "test-secret-test-secret-test-secret-42";
pub const SUB: &str = "0b5e8a3c-5c1e-4a0e-9d2f-6a7b8c9d0e1f";

pub const RSA1_PEM: &str = include_str!("../keys/rsa1.pem");
pub const RSA1_PUBLIC_PEM: &str = include_str!("../keys/rsa1.pub.pem");
pub const RSA2_PEM: &str = include_str!("../keys/rsa2.pem");
pub const EC1_PEM: &str = include_str!("../keys/ec1.pem");

pub fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// Valid claims for [`ISSUER`]/[`AUDIENCE`], expiring in ten minutes.
pub fn claims() -> Value {
    json!({
        "sub": SUB,
        "name": "Ada Lovelace",
        "iss": ISSUER,
        "aud": AUDIENCE,
        "iat": now(),
        "exp": now() + 600,
    })
}

/// `claims()` with `changes` merged in; a `null` change removes the claim.
pub fn claims_with(changes: Value) -> Value {
    let mut claims = claims();
    for (key, value) in changes.as_object().unwrap() {
        if value.is_null() {
            claims.as_object_mut().unwrap().remove(key);
        } else {
            claims[key] = value.clone();
        }
    }
    claims
}

pub fn sign_hs256(secret: &[u8], claims: &Value) -> String {
    jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        claims,
        &EncodingKey::from_secret(secret),
    )
    .unwrap()
}

pub fn rsa_key(pem: &str) -> EncodingKey {
    EncodingKey::from_rsa_pem(pem.as_bytes()).unwrap()
}

pub fn ec_key(pem: &str) -> EncodingKey {
    EncodingKey::from_ec_pem(pem.as_bytes()).unwrap()
}

/// Signs with `alg` and `key`, putting `kid` in the header.
pub fn sign(alg: Algorithm, key: &EncodingKey, kid: Option<&str>, claims: &Value) -> String {
    let mut header = Header::new(alg);
    header.kid = kid.map(str::to_owned);
    jsonwebtoken::encode(&header, claims, key).unwrap()
}

/// A token with an arbitrary JSON header and the given signature segment (for `alg: none`).
pub fn hand_crafted(header: &Value, claims: &Value, signature: &str) -> String {
    let part = |v: &Value| URL_SAFE_NO_PAD.encode(serde_json::to_vec(v).unwrap());
    format!("{}.{}.{}", part(header), part(claims), signature)
}

/// The public JWK of a private key, with `kid`.
pub fn jwk(key: &EncodingKey, alg: Algorithm, kid: &str) -> Jwk {
    let mut jwk = Jwk::from_encoding_key(key, alg).unwrap();
    jwk.common.key_id = Some(kid.to_owned());
    jwk
}

pub fn key_set(keys: Vec<Jwk>) -> Value {
    serde_json::to_value(JwkSet { keys }).unwrap()
}

/// What the JWKS server answers with.
pub enum Reply {
    Document(Value),
    Status(StatusCode),
}

#[derive(Clone)]
pub struct JwksServer {
    pub url: reqwest::Url,
    fetches: Arc<AtomicUsize>,
    reply: Arc<Mutex<Reply>>,
    slow: Arc<AtomicBool>,
}

impl JwksServer {
    /// Starts a real HTTP server on 127.0.0.1:0 serving `document` at `/jwks.json`.
    pub async fn start(document: Value) -> Self {
        let server = Self {
            url: "http://placeholder/".parse().unwrap(),
            fetches: Arc::default(),
            reply: Arc::new(Mutex::new(Reply::Document(document))),
            slow: Arc::default(),
        };
        let app = Router::new()
            .route("/jwks.json", get(serve_jwks))
            .with_state(server.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Self {
            url: format!("http://{addr}/jwks.json").parse().unwrap(),
            ..server
        }
    }

    pub fn fetches(&self) -> usize {
        self.fetches.load(Ordering::SeqCst)
    }

    pub fn set_reply(&self, reply: Reply) {
        *self.reply.lock().unwrap() = reply;
    }

    /// Makes every response take 300 ms, so concurrent requests overlap a fetch.
    pub fn set_slow(&self, slow: bool) {
        self.slow.store(slow, Ordering::SeqCst);
    }
}

async fn serve_jwks(State(server): State<JwksServer>) -> Response {
    server.fetches.fetch_add(1, Ordering::SeqCst);
    if server.slow.load(Ordering::SeqCst) {
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    match &*server.reply.lock().unwrap() {
        Reply::Document(doc) => axum::Json(doc.clone()).into_response(),
        Reply::Status(status) => (*status).into_response(),
    }
}
