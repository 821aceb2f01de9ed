//! A development-only identity provider for OrderFlow.
//!
//! **Never deploy it.** It signs a token for any demo user who asks, without a password. It
//! exists so that the services, run locally by `cargo xtask up`, validate demo tokens exactly as
//! they validate a real provider's: ES256 signatures checked against a JWKS fetched over HTTP,
//! with `iss`, `aud`, `exp` and `nbf` enforced. It refuses to start unless explicitly enabled.
//!
//! | method and path | what |
//! |---|---|
//! | `GET /.well-known/jwks.json` | the public key set (`kid`, `alg: ES256`, `use: sig`) |
//! | `GET /dev-idp/users` | the demo users (Alice, Bob: customers; Ada: admin) |
//! | `POST /dev-idp/token` `{ "userId", "ttlSeconds"? }` | `{ accessToken, expiresAt, expiresIn }` |
//! | `GET /healthz`, `/readyz` | liveness and readiness |

mod error;
mod keys;
mod users;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::json;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use tokio::net::TcpListener;
use uuid::Uuid;

pub use error::DevIdpError;
pub use keys::{IssuedToken, SigningKey};
pub use users::{DemoUser, demo_users};

/// Longest lifetime a caller may ask for (the printed demo tokens of `cargo xtask up`).
pub const MAX_TTL: Duration = Duration::from_secs(12 * 3600);

/// Settings (flags and environment variables).
#[derive(Clone, Debug, clap::Parser)]
#[command(
    name = "dev-idp",
    about = "Development-only identity provider. Never deploy it."
)]
pub struct DevIdpSettings {
    /// The explicit opt-in without which it refuses to start.
    #[arg(long = "enable-insecure-dev-idp", env = "DEV_IDP_ENABLED")]
    pub enabled: bool,
    /// Address to listen on.
    #[arg(long, env = "DEV_IDP_LISTEN", default_value = "127.0.0.1:8090")]
    pub listen: SocketAddr,
    /// `iss` of the tokens; services must be configured with the same value.
    #[arg(long, env = "DEV_IDP_ISSUER", default_value = "http://127.0.0.1:8090")]
    pub issuer: String,
    /// `aud` of the tokens.
    #[arg(long, env = "DEV_IDP_AUDIENCE", default_value = "orderflow")]
    pub audience: String,
    /// Default token lifetime in seconds; short so clients exercise refresh.
    #[arg(long, env = "DEV_IDP_TOKEN_TTL_SECONDS", default_value_t = 900)]
    pub token_ttl_seconds: u64,
}

impl DevIdpSettings {
    /// Enabled settings on an ephemeral port, for tests.
    pub fn for_tests() -> Self {
        Self {
            enabled: true,
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            issuer: "http://dev-idp.test".to_owned(),
            audience: "orderflow".to_owned(),
            token_ttl_seconds: 900,
        }
    }
}

struct AppState {
    settings: DevIdpSettings,
    key: SigningKey,
    users: Vec<DemoUser>,
}

/// A bound, not yet serving, dev identity provider.
pub struct DevIdp {
    listener: TcpListener,
    router: Router,
    addr: SocketAddr,
}

impl DevIdp {
    /// Checks the opt-in, generates the key and binds the listener.
    pub async fn build(settings: DevIdpSettings) -> Result<Self, DevIdpError> {
        if !settings.enabled {
            return Err(DevIdpError::NotEnabled);
        }
        tracing::warn!(
            "DEVELOPMENT ONLY: this identity provider signs tokens for anyone who asks. \
             Never expose it or configure a production service with its JWKS."
        );
        let key = SigningKey::generate()?;
        tracing::info!(kid = key.kid(), issuer = %settings.issuer, audience = %settings.audience, "generated ES256 signing key");
        let listener = TcpListener::bind(settings.listen).await?;
        let addr = listener.local_addr()?;
        let state = Arc::new(AppState {
            settings,
            key,
            users: demo_users(),
        });
        Ok(Self {
            listener,
            router: router(state),
            addr,
        })
    }

    /// The bound address.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Serves until `shutdown` resolves.
    pub async fn run(
        self,
        shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> Result<(), DevIdpError> {
        // The shared serve loop, for its header deadline and descriptor caps; the defaults,
        // since nobody tunes a development tool.
        orderflow_runtime::serve::serve(
            self.listener,
            self.router,
            orderflow_runtime::limits::HttpLimits::default(),
            orderflow_runtime::limits::nofile_limit(),
            shutdown,
        )
        .await?;
        Ok(())
    }
}

fn router(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/.well-known/jwks.json", get(jwks))
        .route("/dev-idp/users", get(users))
        .route("/dev-idp/token", post(token))
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(|| async { "ok" }))
        .with_state(state)
}

async fn jwks(State(state): State<Arc<AppState>>) -> Response {
    (
        [
            (header::CONTENT_TYPE, "application/jwk-set+json"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        Json(state.key.jwks()),
    )
        .into_response()
}

async fn users(State(state): State<Arc<AppState>>) -> Json<serde_json::Value> {
    Json(json!({ "users": state.users }))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct TokenRequest {
    user_id: Uuid,
    ttl_seconds: Option<u64>,
}

fn problem(status: StatusCode, code: &str, detail: &str) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "application/problem+json")],
        Json(json!({ "status": status.as_u16(), "code": code, "detail": detail })),
    )
        .into_response()
}

async fn token(
    State(state): State<Arc<AppState>>,
    body: Result<Json<TokenRequest>, axum::extract::rejection::JsonRejection>,
) -> Response {
    let Ok(Json(request)) = body else {
        return problem(
            StatusCode::BAD_REQUEST,
            "invalid_body",
            "Expected {\"userId\": \"<uuid>\"}.",
        );
    };
    let Some(user) = state.users.iter().find(|u| u.id == request.user_id) else {
        return problem(
            StatusCode::NOT_FOUND,
            "unknown_user",
            "No demo user has this id.",
        );
    };
    let ttl = Duration::from_secs(
        request
            .ttl_seconds
            .unwrap_or(state.settings.token_ttl_seconds)
            .clamp(1, MAX_TTL.as_secs()),
    );
    match state
        .key
        .issue(user, &state.settings.issuer, &state.settings.audience, ttl)
    {
        Ok(issued) => {
            let expires_at = i64::try_from(issued.expires_at)
                .ok()
                .and_then(|s| OffsetDateTime::from_unix_timestamp(s).ok())
                .and_then(|t| t.format(&Rfc3339).ok())
                .unwrap_or_default();
            tracing::info!(user = %user.id, name = user.name, ttl_s = ttl.as_secs(), "issued a demo token");
            (
                [(header::CACHE_CONTROL, "no-store")],
                Json(json!({
                    "accessToken": issued.token,
                    "tokenType": "Bearer",
                    "expiresAt": expires_at,
                    "expiresIn": ttl.as_secs(),
                })),
            )
                .into_response()
        }
        Err(error) => {
            tracing::error!(%error, "signing failed");
            problem(
                StatusCode::INTERNAL_SERVER_ERROR,
                "signing_failed",
                "Could not sign the token.",
            )
        }
    }
}
