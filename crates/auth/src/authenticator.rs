//! Token validation: turns a bearer token into a [`Principal`] or a precise [`AuthError`].
//!
//! The accepted algorithm is decided by configuration, never by the token: HS256 only when a
//! shared secret is configured; RS256/ES256 only when keys come from a JWKS, and then only the
//! algorithm of the key the `kid` names. That closes `alg: none` and the HS/RS confusion attack
//! (an HS256 token "signed" with the RSA public key's bytes) before any cryptography runs.

use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use secrecy::ExposeSecret;
use serde_json::{Map, Value};

use crate::error::excerpt;
use crate::jwks::JwksCache;
use crate::{AuthError, AuthSettings, Principal};

/// RFC 7518 §3.2: an HS256 key must be at least as long as the hash output.
const MIN_SECRET_BYTES: usize = 32;
/// Tokens longer than this are refused before any parsing (real ones are well under 4 KiB).
const MAX_TOKEN_BYTES: usize = 16 * 1024;

/// Validates tokens. Cheap to clone (one `Arc`); build it once per process and share it.
#[derive(Clone)]
pub struct Authenticator {
    inner: Arc<Inner>,
}

struct Inner {
    issuer: String,
    audience: String,
    keys: KeySource,
    hs256: Validation,
    rs256: Validation,
    es256: Validation,
}

enum KeySource {
    Hs256(DecodingKey),
    // Boxed so the enum stays small; there is one per process either way.
    Jwks(Box<JwksCache>),
}

impl std::fmt::Debug for Authenticator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mode = match self.inner.keys {
            KeySource::Hs256(_) => "hs256-secret",
            KeySource::Jwks(_) => "jwks",
        };
        f.debug_struct("Authenticator")
            .field("issuer", &self.inner.issuer)
            .field("audience", &self.inner.audience)
            .field("mode", &mode)
            .finish_non_exhaustive()
    }
}

impl Authenticator {
    /// Checks the settings and builds the authenticator. Does no I/O: JWKS keys are fetched on
    /// first use (call [`Authenticator::refresh_keys`] to warm up at startup).
    pub fn new(settings: AuthSettings) -> Result<Self, AuthError> {
        if settings.issuer.trim().is_empty() || settings.audience.trim().is_empty() {
            return Err(AuthError::Config(
                "the JWT issuer and audience must not be empty".to_owned(),
            ));
        }
        let keys = match (&settings.hs256_secret, settings.jwks_url) {
            (Some(secret), None) => {
                let secret = secret.expose_secret().as_bytes();
                if secret.len() < MIN_SECRET_BYTES {
                    return Err(AuthError::Config(format!(
                        "the HS256 secret must be at least {MIN_SECRET_BYTES} bytes"
                    )));
                }
                KeySource::Hs256(DecodingKey::from_secret(secret))
            }
            (None, Some(url)) => {
                KeySource::Jwks(Box::new(JwksCache::new(url, settings.jwks_cooldown)?))
            }
            _ => {
                return Err(AuthError::Config(
                    "configure exactly one of an HS256 secret or a JWKS URL".to_owned(),
                ));
            }
        };
        let validation = |alg| {
            let mut v = Validation::new(alg);
            v.set_required_spec_claims(&["exp", "iss", "aud"]);
            v.set_issuer(&[&settings.issuer]);
            v.set_audience(&[&settings.audience]);
            v.validate_exp = true;
            v.validate_nbf = true;
            v.validate_aud = true;
            v.leeway = settings.leeway.as_secs();
            v
        };
        Ok(Self {
            inner: Arc::new(Inner {
                hs256: validation(Algorithm::HS256),
                rs256: validation(Algorithm::RS256),
                es256: validation(Algorithm::ES256),
                issuer: settings.issuer,
                audience: settings.audience,
                keys,
            }),
        })
    }

    /// Validates `token` (without the `Bearer ` prefix) and returns who it belongs to.
    ///
    /// Checks, in order: shape, algorithm allowed for the configured key source, key lookup
    /// (JWKS), signature, then `exp`/`nbf` (with leeway), `iss`, `aud`, and the OrderFlow claims
    /// (`sub` must be a UUID; `role`/`roles` strings or arrays).
    pub async fn authenticate(&self, token: &str) -> Result<Principal, AuthError> {
        let header = parse_header(token)?;
        let claims = match &self.inner.keys {
            KeySource::Hs256(key) => {
                if header.alg != "HS256" {
                    return Err(AuthError::AlgorithmNotAllowed(excerpt(&header.alg)));
                }
                self.verify(token, key, Algorithm::HS256)?
            }
            KeySource::Jwks(cache) => {
                let alg = match header.alg.as_str() {
                    "RS256" => Algorithm::RS256,
                    "ES256" => Algorithm::ES256,
                    _ => return Err(AuthError::AlgorithmNotAllowed(excerpt(&header.alg))),
                };
                let kid = header.kid.ok_or(AuthError::MissingKeyId)?;
                let cached = cache.key(&kid).await?;
                if cached.alg != alg {
                    return Err(AuthError::KeyAlgorithmMismatch {
                        kid: excerpt(&kid),
                        key_alg: format!("{:?}", cached.alg),
                        token_alg: excerpt(&header.alg),
                    });
                }
                self.verify(token, &cached.key, alg)?
            }
        };
        Principal::from_claims(&claims)
    }

    /// JWKS mode: fetches the key set now, ignoring the cool-down, and returns how many usable
    /// keys it holds. Useful at startup to fail fast on a wrong URL. HS256 mode: returns `Ok(0)`.
    pub async fn refresh_keys(&self) -> Result<usize, AuthError> {
        match &self.inner.keys {
            KeySource::Hs256(_) => Ok(0),
            KeySource::Jwks(cache) => cache.refresh().await,
        }
    }

    /// The issuer tokens must carry.
    pub fn issuer(&self) -> &str {
        &self.inner.issuer
    }

    /// The audience tokens must carry.
    pub fn audience(&self) -> &str {
        &self.inner.audience
    }

    fn verify(
        &self,
        token: &str,
        key: &DecodingKey,
        alg: Algorithm,
    ) -> Result<Map<String, Value>, AuthError> {
        let validation = match alg {
            Algorithm::HS256 => &self.inner.hs256,
            Algorithm::RS256 => &self.inner.rs256,
            Algorithm::ES256 => &self.inner.es256,
            _ => return Err(AuthError::AlgorithmNotAllowed(format!("{alg:?}"))),
        };
        jsonwebtoken::decode::<Map<String, Value>>(token, key, validation)
            .map(|data| data.claims)
            .map_err(|e| AuthError::from_jwt(&e))
    }
}

/// The two header fields we decide on, read before any key is chosen.
struct TokenHeader {
    alg: String,
    kid: Option<String>,
}

fn parse_header(token: &str) -> Result<TokenHeader, AuthError> {
    if token.len() > MAX_TOKEN_BYTES || token.split('.').count() != 3 {
        return Err(AuthError::Malformed);
    }
    let encoded = token.split('.').next().unwrap_or_default();
    let bytes = URL_SAFE_NO_PAD
        .decode(encoded)
        .map_err(|_| AuthError::Malformed)?;
    let header: Map<String, Value> =
        serde_json::from_slice(&bytes).map_err(|_| AuthError::Malformed)?;
    let alg = match header.get("alg") {
        Some(Value::String(alg)) => alg.clone(),
        _ => return Err(AuthError::Malformed),
    };
    let kid = match header.get("kid") {
        None | Some(Value::Null) => None,
        Some(Value::String(kid)) => Some(kid.clone()),
        Some(_) => return Err(AuthError::Malformed),
    };
    Ok(TokenHeader { alg, kid })
}
