//! The ES256 (P-256) signing key, generated at start and never stored: a restart invalidates
//! every token it issued, which is what a throwaway development provider should do.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use jsonwebtoken::jwk::{Jwk, JwkSet, KeyAlgorithm, PublicKeyUse};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use p256::pkcs8::EncodePrivateKey;
use serde_json::json;

use crate::DevIdpError;
use crate::users::DemoUser;

/// A signing key with its public JWK.
pub struct SigningKey {
    kid: String,
    encoding: EncodingKey,
    jwk: Jwk,
}

/// A signed token and when it expires (Unix seconds).
pub struct IssuedToken {
    /// The compact JWS.
    pub token: String,
    /// `exp`.
    pub expires_at: u64,
}

impl SigningKey {
    /// A fresh random P-256 key with a random `kid`.
    pub fn generate() -> Result<Self, DevIdpError> {
        // A uniformly random 32-byte string is a valid scalar except with negligible
        // probability (zero or ≥ the group order); retry in that case.
        let secret = loop {
            let bytes: [u8; 32] = rand::random();
            if let Ok(secret) = p256::SecretKey::from_slice(&bytes) {
                break secret;
            }
        };
        let der = secret
            .to_pkcs8_der()
            .map_err(|e| DevIdpError::Key(e.to_string()))?;
        let encoding = EncodingKey::from_ec_der(der.as_bytes());
        let kid = format!("dev-{}", uuid::Uuid::new_v4().simple());
        let mut jwk = Jwk::from_encoding_key(&encoding, Algorithm::ES256)
            .map_err(|e| DevIdpError::Key(e.to_string()))?;
        jwk.common.key_id = Some(kid.clone());
        jwk.common.key_algorithm = Some(KeyAlgorithm::ES256);
        jwk.common.public_key_use = Some(PublicKeyUse::Signature);
        Ok(Self { kid, encoding, jwk })
    }

    /// The key's id, carried in every token header.
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The public key set to publish at `/.well-known/jwks.json`.
    pub fn jwks(&self) -> JwkSet {
        JwkSet {
            keys: vec![self.jwk.clone()],
        }
    }

    /// Signs a token for `user` valid for `ttl`.
    pub fn issue(
        &self,
        user: &DemoUser,
        issuer: &str,
        audience: &str,
        ttl: Duration,
    ) -> Result<IssuedToken, DevIdpError> {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let expires_at = now.saturating_add(ttl.as_secs());
        let claims = json!({
            "sub": user.id.to_string(),
            "name": user.name,
            "roles": user.roles,
            "iss": issuer,
            "aud": audience,
            "iat": now,
            "nbf": now,
            "exp": expires_at,
            "jti": uuid::Uuid::new_v4().to_string(),
        });
        let mut header = Header::new(Algorithm::ES256);
        header.kid = Some(self.kid.clone());
        let token = jsonwebtoken::encode(&header, &claims, &self.encoding)
            .map_err(|e| DevIdpError::Key(e.to_string()))?;
        Ok(IssuedToken { token, expires_at })
    }
}
