//! JWT authentication shared by every OrderFlow service.
//!
//! - [`AuthSettings`]: clap arguments (`--jwt-*` / `ORDERFLOW_JWT_*`) a service flattens into its
//!   config; exactly one key source: an HS256 secret (dev/tests) or a JWKS URL (production).
//! - [`Authenticator`]: validates a token (signature, `exp`, `nbf`, `iss`, `aud`, pinned
//!   algorithms) and returns a [`Principal`]; JWKS keys are cached by `kid` and refetched at
//!   most once per cool-down when an unknown `kid` appears.
//! - Axum: `Principal` is an extractor (header `Authorization: Bearer …`), and
//!   [`QueryOrHeaderPrincipal`] also accepts `?access_token=` for WebSocket upgrades;
//!   rejections are RFC 9457 problem+json with an RFC 6750 `WWW-Authenticate` challenge.
//! - [`dev`]: the public development issuer/audience/secret and an HS256 token issuer.
//!
//! # Settings
//!
//! | Flag | Environment variable | Default | Meaning |
//! |---|---|---|---|
//! | `--jwt-issuer` | `ORDERFLOW_JWT_ISSUER` | required | `iss` every token must carry |
//! | `--jwt-audience` | `ORDERFLOW_JWT_AUDIENCE` | required | value the token's `aud` must contain |
//! | `--jwt-hs256-secret` | `ORDERFLOW_JWT_HS256_SECRET` | one of these two | shared HS256 secret, ≥ 32 bytes (dev/tests) |
//! | `--jwt-jwks-url` | `ORDERFLOW_JWT_JWKS_URL` | one of these two | JWKS document with RS256/ES256 keys (production) |
//! | `--jwt-jwks-cooldown` | `ORDERFLOW_JWT_JWKS_COOLDOWN` | `60s` | minimum time between JWKS fetches caused by unknown `kid`s |
//! | `--jwt-leeway` | `ORDERFLOW_JWT_LEEWAY` | `30s` | clock-skew allowance for `exp` and `nbf` |
//!
//! # Example
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), orderflow_auth::AuthError> {
//! use orderflow_auth::{dev, AuthSettings, Authenticator};
//!
//! let auth = Authenticator::new(AuthSettings::dev())?;
//! let token = dev::issue_hs256(dev::SECRET, dev::DevClaims::new(uuid::Uuid::new_v4()).role("Admin"));
//! let principal = auth.authenticate(&token).await?;
//! assert!(principal.is_admin());
//! # Ok(()) }
//! ```

mod authenticator;
pub mod dev;
mod error;
mod extract;
mod jwks;
mod principal;
mod settings;

pub use authenticator::Authenticator;
pub use error::AuthError;
pub use extract::{
    ACCESS_TOKEN_QUERY_PARAM, QueryOrHeaderPrincipal, bearer_token, query_token, require_admin,
    token_from_query_or_header,
};
pub use principal::{ADMIN_ROLE, Principal};
pub use settings::{AuthSettings, DEFAULT_JWKS_COOLDOWN, DEFAULT_LEEWAY, parse_duration};
