//! Cache of the identity provider's public signing keys (JWKS), keyed by `kid`.
//!
//! Keys are fetched lazily and kept until a token names a `kid` we do not know — the signal that
//! the provider rotated its keys. Such a miss refetches the set, but at most once per cool-down,
//! so a flood of tokens with made-up `kid`s cannot turn us into a DoS amplifier against the
//! provider. Concurrent misses wait for one shared fetch (single flight). A failed fetch, or a
//! document with no usable key, leaves the previous keys in place: an outage of the provider must
//! not log everybody out.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, Jwk, KeyAlgorithm, PublicKeyUse};
use jsonwebtoken::{Algorithm, DecodingKey};
use reqwest::Url;
use serde_json::Value;
use tokio::time::Instant;

use crate::AuthError;

/// Largest JWKS document we accept; real ones are a few KiB.
const MAX_JWKS_BYTES: usize = 1024 * 1024;
/// How long one JWKS request may take before it counts as failed.
const FETCH_TIMEOUT: Duration = Duration::from_secs(10);

/// One usable verification key and the single algorithm it may verify.
pub(crate) struct CachedKey {
    pub(crate) alg: Algorithm,
    pub(crate) key: DecodingKey,
}

#[derive(Default)]
struct State {
    keys: HashMap<String, Arc<CachedKey>>,
    /// Incremented by every fetch attempt; lets a waiter see that a fetch happened meanwhile.
    generation: u64,
    last_attempt: Option<Instant>,
    /// Why the latest attempt failed, if it did (cleared by a successful fetch).
    last_error: Option<String>,
}

pub(crate) struct JwksCache {
    url: Url,
    client: reqwest::Client,
    cooldown: Duration,
    state: RwLock<State>,
    /// Held while fetching, so concurrent misses share one request.
    fetch_lock: tokio::sync::Mutex<()>,
}

impl JwksCache {
    pub(crate) fn new(url: Url, cooldown: Duration) -> Result<Self, AuthError> {
        if !matches!(url.scheme(), "http" | "https") {
            return Err(AuthError::Config(format!(
                "the JWKS URL must be http or https, not {:?}",
                url.scheme()
            )));
        }
        let client = orderflow_runtime::http::client_builder()
            .timeout(FETCH_TIMEOUT)
            .build()
            .map_err(|e| AuthError::Config(format!("cannot build the JWKS HTTP client: {e}")))?;
        Ok(Self {
            url,
            client,
            cooldown,
            state: RwLock::new(State::default()),
            fetch_lock: tokio::sync::Mutex::new(()),
        })
    }

    /// The key for `kid`, refetching the set if it is unknown and the cool-down allows.
    pub(crate) async fn key(&self, kid: &str) -> Result<Arc<CachedKey>, AuthError> {
        let seen_generation = {
            let state = self.read();
            if let Some(key) = state.keys.get(kid) {
                return Ok(key.clone());
            }
            state.generation
        };

        let _fetching = self.fetch_lock.lock().await;
        {
            let state = self.read();
            if let Some(key) = state.keys.get(kid) {
                return Ok(key.clone());
            }
            let fetched_meanwhile = state.generation != seen_generation;
            let cooling_down = state
                .last_attempt
                .is_some_and(|at| at.elapsed() < self.cooldown);
            if fetched_meanwhile || cooling_down {
                return Err(miss(kid, &state));
            }
        }
        self.fetch_and_store().await;
        let state = self.read();
        state
            .keys
            .get(kid)
            .cloned()
            .ok_or_else(|| miss(kid, &state))
    }

    /// Fetches now regardless of the cool-down (startup warm-up); returns the usable key count.
    pub(crate) async fn refresh(&self) -> Result<usize, AuthError> {
        let _fetching = self.fetch_lock.lock().await;
        self.fetch_and_store().await;
        let state = self.read();
        match &state.last_error {
            Some(error) => Err(AuthError::KeysUnavailable(error.clone())),
            None => Ok(state.keys.len()),
        }
    }

    /// One fetch attempt; the caller holds `fetch_lock`.
    async fn fetch_and_store(&self) {
        let result = self.fetch().await;
        let mut state = self.state.write().unwrap_or_else(|p| p.into_inner());
        state.generation += 1;
        state.last_attempt = Some(Instant::now());
        match result {
            Ok(keys) => {
                tracing::info!(url = %self.url, keys = keys.len(), "fetched JWKS");
                state.keys = keys;
                state.last_error = None;
            }
            Err(error) => {
                tracing::warn!(url = %self.url, %error, "JWKS fetch failed; keeping cached keys");
                state.last_error = Some(error);
            }
        }
    }

    async fn fetch(&self) -> Result<HashMap<String, Arc<CachedKey>>, String> {
        let response = self
            .client
            .get(self.url.clone())
            .header(
                http::header::ACCEPT,
                "application/jwk-set+json, application/json",
            )
            .send()
            .await
            .map_err(|e| format!("request failed: {e}"))?;
        if !response.status().is_success() {
            return Err(format!("HTTP status {}", response.status()));
        }
        let body = response
            .bytes()
            .await
            .map_err(|e| format!("reading the body failed: {e}"))?;
        if body.len() > MAX_JWKS_BYTES {
            return Err(format!("document is larger than {MAX_JWKS_BYTES} bytes"));
        }
        let document: Value =
            serde_json::from_slice(&body).map_err(|e| format!("not JSON: {e}"))?;
        let keys = parse_key_set(&document)?;
        if keys.is_empty() {
            // Treat an empty set as a failure: replacing good keys with nothing would reject
            // every token because of one bad response.
            return Err("the document holds no usable RS256/ES256 signing key".to_owned());
        }
        Ok(keys)
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, State> {
        // A panic while holding the lock cannot leave the map half-written (we only swap whole
        // values), so a poisoned lock is still safe to read.
        self.state.read().unwrap_or_else(|p| p.into_inner())
    }
}

fn miss(kid: &str, state: &State) -> AuthError {
    match &state.last_error {
        Some(error) => AuthError::KeysUnavailable(error.clone()),
        None => AuthError::UnknownKeyId(crate::error::excerpt(kid)),
    }
}

/// Usable keys of a JWKS document; keys we cannot or must not use are skipped, not fatal,
/// because providers publish encryption keys and future algorithms side by side.
fn parse_key_set(document: &Value) -> Result<HashMap<String, Arc<CachedKey>>, String> {
    let entries = document
        .get("keys")
        .and_then(Value::as_array)
        .ok_or("the document has no \"keys\" array")?;
    let mut keys = HashMap::new();
    for entry in entries {
        let Ok(jwk) = serde_json::from_value::<Jwk>(entry.clone()) else {
            continue;
        };
        match usable_key(&jwk) {
            Some((kid, key)) => {
                keys.insert(kid, Arc::new(key));
            }
            None => tracing::debug!(kid = ?jwk.common.key_id, "skipping unusable JWK"),
        }
    }
    Ok(keys)
}

/// The key's id and pinned algorithm, if it is an RS256 or ES256 (P-256) signing key.
fn usable_key(jwk: &Jwk) -> Option<(String, CachedKey)> {
    let kid = jwk.common.key_id.clone()?;
    if matches!(&jwk.common.public_key_use, Some(u) if *u != PublicKeyUse::Signature) {
        return None;
    }
    // The algorithm comes from the key's own `alg` if it states one, else from its type; a
    // symmetric (`oct`) key is never accepted from a JWKS.
    let alg = match (&jwk.algorithm, jwk.common.key_algorithm) {
        (AlgorithmParameters::RSA(_), None | Some(KeyAlgorithm::RS256)) => Algorithm::RS256,
        (AlgorithmParameters::EllipticCurve(ec), None | Some(KeyAlgorithm::ES256))
            if ec.curve == EllipticCurve::P256 =>
        {
            Algorithm::ES256
        }
        _ => return None,
    };
    let key = DecodingKey::from_jwk(jwk).ok()?;
    Some((kid, CachedKey { alg, key }))
}
