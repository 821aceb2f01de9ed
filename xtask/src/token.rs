//! `cargo xtask token`: mints a development JWT for the local stack and prints it.
//!
//! The defaults are the public development identity of [`orderflow_auth::dev`], and each can be
//! overridden by the same `ORDERFLOW_JWT_*` variables the services read, so a token minted in a
//! shell matches the services started from it. Development only: anyone can mint these tokens.
//! The token goes to stdout alone (for `TOKEN=$(cargo xtask token --role Admin)`); a summary
//! goes to stderr.

use std::time::Duration;

use anyhow::ensure;
use orderflow_auth::dev::{self, DevClaims};
use uuid::Uuid;

/// Arguments of `cargo xtask token`.
#[derive(clap::Args, Debug, Clone)]
pub struct TokenArgs {
    /// Subject (`sub`, the customer id); a random UUID when omitted.
    #[arg(long)]
    pub sub: Option<Uuid>,

    /// Display name (`name`).
    #[arg(long, default_value = "")]
    pub name: String,

    /// A role to grant, e.g. `Admin`; repeat for several.
    #[arg(long = "role", value_name = "ROLE")]
    pub roles: Vec<String>,

    /// Lifetime, e.g. `15m`, `1h`, `7d`.
    #[arg(long, default_value = "1h", value_parser = orderflow_auth::parse_duration)]
    pub ttl: Duration,

    /// Issuer (`iss`).
    #[arg(long, env = "ORDERFLOW_JWT_ISSUER", default_value = dev::ISSUER)]
    pub issuer: String,

    /// Audience (`aud`).
    #[arg(long, env = "ORDERFLOW_JWT_AUDIENCE", default_value = dev::AUDIENCE)]
    pub audience: String,

    /// HS256 signing secret (defaults to the public development secret).
    #[arg(
        long,
        env = "ORDERFLOW_JWT_HS256_SECRET",
        default_value = dev::SECRET,
        hide_default_value = true,
        hide_env_values = true
    )]
    pub secret: String,
}

/// Prints a token for `args` on stdout and what it grants on stderr.
pub fn run(args: TokenArgs) -> anyhow::Result<()> {
    let (token, claims) = mint(args)?;
    eprintln!(
        "sub={} name={:?} roles={:?} iss={} aud={} ttl={}s",
        claims.sub,
        claims.name,
        claims.roles,
        claims.issuer,
        claims.audience,
        claims.ttl.as_secs()
    );
    println!("{token}");
    Ok(())
}

/// The signed token and the claims it carries.
fn mint(args: TokenArgs) -> anyhow::Result<(String, DevClaims)> {
    ensure!(!args.ttl.is_zero(), "--ttl must be longer than zero");
    ensure!(
        args.secret.len() >= 32,
        "--secret must be at least 32 bytes; services refuse shorter HS256 secrets"
    );
    let claims = DevClaims {
        sub: args.sub.unwrap_or_else(Uuid::new_v4),
        name: args.name,
        roles: args.roles,
        issuer: args.issuer,
        audience: args.audience,
        ttl: args.ttl,
    };
    let token = dev::issue_hs256(&args.secret, claims.clone());
    Ok((token, claims))
}

#[cfg(test)]
mod tests {
    use std::future::Future;
    use std::pin::pin;
    use std::task::{Context, Poll, Waker};

    use clap::Parser;
    use orderflow_auth::{AuthError, AuthSettings, Authenticator, Principal};

    use super::*;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        token: TokenArgs,
    }

    /// `cargo xtask token` with these `(--flag, value)` options.
    fn args(options: &[(&str, &str)]) -> TokenArgs {
        let words = options.iter().flat_map(|&(flag, value)| [flag, value]);
        Cli::try_parse_from(std::iter::once("token").chain(words))
            .unwrap()
            .token
    }

    /// HS256 validation never waits on I/O, so one poll completes it; no runtime needed.
    fn authenticate(settings: AuthSettings, token: &str) -> Result<Principal, AuthError> {
        let auth = Authenticator::new(settings).unwrap();
        let mut future = pin!(auth.authenticate(token));
        match future
            .as_mut()
            .poll(&mut Context::from_waker(Waker::noop()))
        {
            Poll::Ready(result) => result,
            Poll::Pending => panic!("HS256 authentication should not wait"),
        }
    }

    #[test]
    fn minted_token_is_accepted_by_dev_settings() {
        let sub = "3a1f6d3e-2b7c-4e55-8f0a-9c1d2e3f4a5b";
        let (token, _) = mint(args(&[
            ("--sub", sub),
            ("--name", "Dev Admin"),
            ("--role", "Admin"),
            ("--role", "Support"),
            ("--ttl", "15m"),
            // Explicit, so a shell exporting ORDERFLOW_JWT_* cannot change what is minted.
            ("--issuer", dev::ISSUER),
            ("--audience", dev::AUDIENCE),
            ("--secret", dev::SECRET),
        ]))
        .unwrap();
        let principal = authenticate(AuthSettings::dev(), &token).unwrap();
        assert_eq!(principal.user_id.to_string(), sub);
        assert_eq!(principal.name, "Dev Admin");
        assert_eq!(principal.roles, ["Admin", "Support"]);
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs() as i64;
        let lifetime = principal.expires_at.unix_timestamp() - now;
        assert!((890..=900).contains(&lifetime), "lifetime {lifetime}");
    }

    #[test]
    fn defaults_are_a_random_subject_and_the_dev_identity() {
        let a = args(&[]);
        // The defaults yield to ORDERFLOW_JWT_* from the shell; only check them without one.
        let env_overrides = ["ISSUER", "AUDIENCE"]
            .iter()
            .any(|name| std::env::var_os(format!("ORDERFLOW_JWT_{name}")).is_some());
        if !env_overrides {
            assert_eq!(a.issuer, dev::ISSUER);
            assert_eq!(a.audience, dev::AUDIENCE);
        }
        assert_eq!(a.ttl, Duration::from_secs(3600));
        let (_, first) = mint(a.clone()).unwrap();
        let (_, second) = mint(a).unwrap();
        assert_ne!(first.sub, second.sub);
    }

    #[test]
    fn overrides_change_what_services_accept() {
        let other_secret = "a-different-secret-of-at-least-32-bytes";
        let (token, _) = mint(args(&[
            ("--secret", other_secret),
            ("--audience", "elsewhere"),
            ("--issuer", dev::ISSUER),
        ]))
        .unwrap();
        let err = authenticate(AuthSettings::dev(), &token).unwrap_err();
        assert_eq!(err, AuthError::InvalidSignature);
        let settings = AuthSettings::hs256(dev::ISSUER, "elsewhere", other_secret);
        authenticate(settings, &token).unwrap();

        assert!(mint(args(&[("--secret", "short")])).is_err());
        assert!(mint(args(&[("--ttl", "0s")])).is_err());
    }
}
