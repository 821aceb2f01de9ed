//! The one error type of this crate.
//!
//! Every variant is precise enough to tell an operator (or a client) *why* a token was refused,
//! but no variant ever carries the token itself: errors end up in logs and in problem documents,
//! and a bearer token in a log is a stolen session.

use http::StatusCode;
use orderflow_runtime::problem::codes::{self, Code};

/// Why configuring an [`Authenticator`](crate::Authenticator) or authenticating a token failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AuthError {
    /// The settings cannot produce a working authenticator (programming or deployment error).
    #[error("invalid auth configuration: {0}")]
    Config(String),

    /// The request carried no token at all.
    #[error("no bearer token was presented")]
    MissingToken,

    /// An `Authorization` header was present but is not `Bearer <token>`.
    #[error("the Authorization header is not a Bearer credential")]
    InvalidAuthorizationHeader,

    /// The token is not three base64url segments holding a JSON header and payload.
    #[error("the token is not a well-formed JWT")]
    Malformed,

    /// The header names an algorithm this service does not accept (including `none`).
    #[error("the token algorithm {0:?} is not accepted")]
    AlgorithmNotAllowed(String),

    /// JWKS mode: the token header has no `kid`, so no key can be chosen.
    #[error("the token header has no key id (kid)")]
    MissingKeyId,

    /// JWKS mode: no key with this `kid` exists, even after refreshing the key set.
    #[error("no signing key with key id {0:?} is known")]
    UnknownKeyId(String),

    /// JWKS mode: the key named by `kid` is for a different algorithm than the token header.
    #[error("the key {kid:?} is for {key_alg}, but the token says {token_alg}")]
    KeyAlgorithmMismatch {
        /// The key id from the token header.
        kid: String,
        /// The algorithm the key is published for.
        key_alg: String,
        /// The algorithm the token header claims.
        token_alg: String,
    },

    /// The signature does not verify with the configured key.
    #[error("the token signature is invalid")]
    InvalidSignature,

    /// `exp` is in the past (beyond the leeway).
    #[error("the token has expired")]
    Expired,

    /// `nbf` is in the future (beyond the leeway).
    #[error("the token is not valid yet (nbf is in the future)")]
    NotYetValid,

    /// A required claim (`exp`, `iss`, `aud`, `sub`) is absent.
    #[error("the token has no {0:?} claim")]
    MissingClaim(String),

    /// `iss` is not the configured issuer.
    #[error("the token issuer is not accepted")]
    InvalidIssuer,

    /// `aud` does not contain the configured audience.
    #[error("the token audience is not accepted")]
    InvalidAudience,

    /// A claim is present but has the wrong shape, e.g. `sub` is not a UUID.
    #[error("the {claim:?} claim is invalid: {reason}")]
    InvalidClaim {
        /// The claim name.
        claim: String,
        /// What is wrong with it (never its value).
        reason: String,
    },

    /// JWKS mode: the key set could not be fetched and the needed key is not cached.
    #[error("the signing keys are unavailable: {0}")]
    KeysUnavailable(String),
}

impl AuthError {
    /// HTTP status for this error: 503 when the fault is ours (keys unreachable, bad config),
    /// 401 for everything the client's credential is to blame for.
    pub fn status(&self) -> StatusCode {
        self.problem_code().status
    }

    /// The row of the problem-code table for this error.
    pub fn problem_code(&self) -> Code {
        match self {
            Self::MissingToken => codes::MISSING_TOKEN,
            Self::Expired => codes::TOKEN_EXPIRED,
            Self::KeysUnavailable(_) => codes::AUTH_KEYS_UNAVAILABLE,
            Self::Config(_) => codes::INTERNAL_ERROR,
            _ => codes::INVALID_TOKEN,
        }
    }

    /// Maps a `jsonwebtoken` failure to a precise variant. The library's errors never contain
    /// the token, but we still rebuild them from the kind so no foreign text leaks through.
    pub(crate) fn from_jwt(err: &jsonwebtoken::errors::Error) -> Self {
        use jsonwebtoken::errors::ErrorKind as K;
        match err.kind() {
            K::InvalidSignature => Self::InvalidSignature,
            K::ExpiredSignature => Self::Expired,
            K::ImmatureSignature => Self::NotYetValid,
            K::InvalidIssuer => Self::InvalidIssuer,
            K::InvalidAudience => Self::InvalidAudience,
            K::MissingRequiredClaim(claim) => Self::MissingClaim(claim.clone()),
            K::InvalidClaimFormat(claim) => Self::InvalidClaim {
                claim: claim.clone(),
                reason: "must be a number of seconds since the epoch".to_owned(),
            },
            K::InvalidAlgorithm | K::InvalidAlgorithmName | K::UnsupportedAlgorithm => {
                Self::AlgorithmNotAllowed("(does not match the key)".to_owned())
            }
            _ => Self::Malformed,
        }
    }
}

/// At most 64 characters of an attacker-controlled header value (`kid`, `alg`), for errors:
/// enough to recognise it in a log, too little to smuggle anything through.
pub(crate) fn excerpt(value: &str) -> String {
    const MAX_CHARS: usize = 64;
    value
        .chars()
        .take(MAX_CHARS)
        .map(|c| if c.is_control() { '?' } else { c })
        .collect()
}
