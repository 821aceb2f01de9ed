//! Development identity: well-known settings and an HS256 token issuer.
//!
//! **For development and tests only.** The secret below is public (it is in this repository),
//! so anyone can mint tokens that a service configured with it will accept. Production
//! deployments configure a JWKS URL (or at least their own secret) instead. `cargo xtask up`,
//! `cargo xtask token` and the test suites use these values so their tokens match.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use jsonwebtoken::{EncodingKey, Header};
use serde_json::json;
use uuid::Uuid;

/// Development issuer (`iss`).
pub const ISSUER: &str = "orderflow-dev";
/// Development audience (`aud`).
pub const AUDIENCE: &str = "orderflow";
/// Development HS256 secret. Public knowledge: never use it outside development and tests.
pub const SECRET: &str = "orderflow-dev-secret-change-me-0123456789";

/// What a development token says about its holder.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DevClaims {
    /// `sub`: the user (customer) id.
    pub sub: Uuid,
    /// `name`: display name; omitted from the token when empty.
    pub name: String,
    /// `roles`: e.g. `["Admin"]`.
    pub roles: Vec<String>,
    /// `iss`.
    pub issuer: String,
    /// `aud`.
    pub audience: String,
    /// Lifetime: `exp` is issue time plus this.
    pub ttl: Duration,
}

impl DevClaims {
    /// Claims for `sub` with the development issuer and audience, no name, no roles, 1 h TTL.
    pub fn new(sub: Uuid) -> Self {
        Self {
            sub,
            name: String::new(),
            roles: Vec::new(),
            issuer: ISSUER.to_owned(),
            audience: AUDIENCE.to_owned(),
            ttl: Duration::from_secs(3600),
        }
    }

    /// Sets the display name.
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = name.into();
        self
    }

    /// Adds a role.
    pub fn role(mut self, role: impl Into<String>) -> Self {
        self.roles.push(role.into());
        self
    }

    /// Sets the lifetime.
    pub fn ttl(mut self, ttl: Duration) -> Self {
        self.ttl = ttl;
        self
    }
}

/// Signs `claims` with HS256 and `secret`, adding `iat`/`nbf` (now) and `exp` (now + ttl).
pub fn issue_hs256(secret: impl AsRef<[u8]>, claims: DevClaims) -> String {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let mut body = json!({
        "sub": claims.sub.to_string(),
        "iss": claims.issuer,
        "aud": claims.audience,
        "iat": now,
        "nbf": now,
        "exp": now.saturating_add(claims.ttl.as_secs()),
        "roles": claims.roles,
    });
    if !claims.name.is_empty() {
        body["name"] = json!(claims.name);
    }
    jsonwebtoken::encode(
        &Header::new(jsonwebtoken::Algorithm::HS256),
        &body,
        &EncodingKey::from_secret(secret.as_ref()),
    )
    // HMAC accepts keys of any length and the claims are plain JSON, so signing cannot fail.
    .expect("HS256 signing of JSON claims is infallible")
}

/// A user with a fresh id and a token for the development settings, as test suites need them.
#[derive(Clone, Debug)]
pub struct DevUser {
    /// The user (customer) id, the token's `sub`.
    pub id: Uuid,
    /// A token signed with [`SECRET`].
    pub token: String,
}

impl DevUser {
    /// A customer called `name`.
    pub fn customer(name: &str) -> Self {
        Self::issue(DevClaims::new(Uuid::new_v4()).name(name))
    }

    /// An administrator (role `Admin`).
    pub fn admin() -> Self {
        Self::issue(
            DevClaims::new(Uuid::new_v4())
                .name("Ada Admin")
                .role("Admin"),
        )
    }

    fn issue(claims: DevClaims) -> Self {
        Self {
            id: claims.sub,
            token: issue_hs256(SECRET, claims),
        }
    }
}
