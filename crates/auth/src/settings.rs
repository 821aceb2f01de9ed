//! Token-validation settings that every service flattens into its own clap config.
//!
//! Exactly one key source is configured: a shared HS256 secret (development and tests) or a
//! JWKS URL (production, RS256/ES256). Clap enforces "exactly one" when parsing; code that builds
//! the struct by hand gets the same check from [`Authenticator::new`](crate::Authenticator::new).

use std::time::Duration;

use reqwest::Url;
use secrecy::SecretString;

/// Default JWKS refetch cool-down: at most one refetch a minute even under a flood of tokens
/// with unknown `kid`s, which is also how long a newly rotated key may take to be accepted.
pub const DEFAULT_JWKS_COOLDOWN: Duration = Duration::from_secs(60);

/// Default clock-skew leeway for `exp` and `nbf`: 30 s covers NTP-synchronised hosts with room
/// to spare while keeping an expired token's afterlife short.
pub const DEFAULT_LEEWAY: Duration = Duration::from_secs(30);

/// How tokens are validated. Flatten it into a service config with `#[command(flatten)]`.
///
/// Argument ids are prefixed `jwt_` so they cannot collide with the flattening config's own.
///
/// `Debug` never shows the secret (it is a [`SecretString`]).
#[derive(clap::Args, Clone, Debug)]
pub struct AuthSettings {
    /// Required `iss` claim.
    #[arg(id = "jwt_issuer", long = "jwt-issuer", env = "ORDERFLOW_JWT_ISSUER")]
    pub issuer: String,

    /// Required `aud` claim (the token's `aud` must contain it).
    #[arg(
        id = "jwt_audience",
        long = "jwt-audience",
        env = "ORDERFLOW_JWT_AUDIENCE"
    )]
    pub audience: String,

    /// Shared HS256 secret (development/tests only; at least 32 bytes).
    #[arg(
        id = "jwt_hs256_secret",
        long = "jwt-hs256-secret",
        env = "ORDERFLOW_JWT_HS256_SECRET",
        hide_env_values = true,
        required_unless_present = "jwt_jwks_url",
        conflicts_with = "jwt_jwks_url"
    )]
    pub hs256_secret: Option<SecretString>,

    /// URL of the identity provider's JWKS document (RS256/ES256 keys).
    #[arg(
        id = "jwt_jwks_url",
        long = "jwt-jwks-url",
        env = "ORDERFLOW_JWT_JWKS_URL"
    )]
    pub jwks_url: Option<Url>,

    /// Minimum time between two JWKS fetches triggered by unknown key ids (e.g. `60s`, `5m`).
    #[arg(
        id = "jwt_jwks_cooldown",
        long = "jwt-jwks-cooldown",
        env = "ORDERFLOW_JWT_JWKS_COOLDOWN",
        default_value = "60s",
        value_parser = parse_duration
    )]
    pub jwks_cooldown: Duration,

    /// Clock-skew leeway applied to `exp` and `nbf` (whole seconds, e.g. `30s`).
    #[arg(
        id = "jwt_leeway",
        long = "jwt-leeway",
        env = "ORDERFLOW_JWT_LEEWAY",
        default_value = "30s",
        value_parser = parse_duration
    )]
    pub leeway: Duration,
}

impl AuthSettings {
    /// Settings for a shared HS256 secret with default leeway (tests and development).
    pub fn hs256(
        issuer: impl Into<String>,
        audience: impl Into<String>,
        secret: impl Into<String>,
    ) -> Self {
        Self {
            issuer: issuer.into(),
            audience: audience.into(),
            hs256_secret: Some(SecretString::from(secret.into())),
            jwks_url: None,
            jwks_cooldown: DEFAULT_JWKS_COOLDOWN,
            leeway: DEFAULT_LEEWAY,
        }
    }

    /// Settings for keys published at a JWKS URL, with default cool-down and leeway.
    pub fn jwks(issuer: impl Into<String>, audience: impl Into<String>, url: Url) -> Self {
        Self {
            issuer: issuer.into(),
            audience: audience.into(),
            hs256_secret: None,
            jwks_url: Some(url),
            jwks_cooldown: DEFAULT_JWKS_COOLDOWN,
            leeway: DEFAULT_LEEWAY,
        }
    }

    /// The development settings ([`crate::dev`] issuer, audience and secret).
    pub fn dev() -> Self {
        Self::hs256(crate::dev::ISSUER, crate::dev::AUDIENCE, crate::dev::SECRET)
    }

    /// Replaces the JWKS refetch cool-down.
    pub fn with_jwks_cooldown(mut self, cooldown: Duration) -> Self {
        self.jwks_cooldown = cooldown;
        self
    }

    /// Replaces the clock-skew leeway.
    pub fn with_leeway(mut self, leeway: Duration) -> Self {
        self.leeway = leeway;
        self
    }
}

/// Parses a duration such as `500ms`, `30s`, `5m`, `1h`, `7d`, or a bare number of seconds.
/// Used by clap for the settings above and by `cargo xtask token --ttl`; the one parser every
/// service's duration settings use.
pub use orderflow_runtime::limits::parse_duration;

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;
    use secrecy::ExposeSecret;

    #[derive(Parser, Debug)]
    struct Cli {
        #[command(flatten)]
        auth: AuthSettings,
    }

    #[test]
    fn durations_parse() {
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("30"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_duration("5m"), Ok(Duration::from_secs(300)));
        assert_eq!(parse_duration("1h"), Ok(Duration::from_secs(3600)));
        assert_eq!(parse_duration("2d"), Ok(Duration::from_secs(172_800)));
        assert!(parse_duration("1y").is_err());
        assert!(parse_duration("h").is_err());
        assert!(parse_duration("").is_err());
    }

    #[test]
    fn exactly_one_key_source_is_required() {
        let base = ["svc", "--jwt-issuer", "i", "--jwt-audience", "a"];
        // The env fallbacks would supply a key source; only meaningful when the shell has none.
        if std::env::var_os("ORDERFLOW_JWT_HS256_SECRET").is_none()
            && std::env::var_os("ORDERFLOW_JWT_JWKS_URL").is_none()
        {
            assert!(Cli::try_parse_from(base).is_err());
        }

        let mut both = base.to_vec();
        both.extend(["--jwt-hs256-secret", "s", "--jwt-jwks-url", "http://h/jwks"]);
        assert!(Cli::try_parse_from(both).is_err());

        let mut secret = base.to_vec();
        secret.extend(["--jwt-hs256-secret", "top-secret-value"]);
        let cli = Cli::try_parse_from(secret).unwrap();
        assert_eq!(
            cli.auth.hs256_secret.as_ref().unwrap().expose_secret(),
            "top-secret-value"
        );
        assert_eq!(cli.auth.jwks_cooldown, DEFAULT_JWKS_COOLDOWN);
        assert_eq!(cli.auth.leeway, DEFAULT_LEEWAY);
        assert!(!format!("{:?}", cli.auth).contains("top-secret-value"));

        let mut jwks = base.to_vec();
        jwks.extend([
            "--jwt-jwks-url",
            "http://idp/jwks",
            "--jwt-jwks-cooldown",
            "5s",
        ]);
        let cli = Cli::try_parse_from(jwks).unwrap();
        assert_eq!(cli.auth.jwks_url.unwrap().as_str(), "http://idp/jwks");
        assert_eq!(cli.auth.jwks_cooldown, Duration::from_secs(5));
    }
}
