//! Axum integration: the [`Principal`] extractor, token lookup helpers, and RFC 6750 / RFC 9457
//! rejections.
//!
//! A handler that takes a `Principal` argument is authenticated; the state only has to expose an
//! [`Authenticator`] through `FromRef`. Rejections are `application/problem+json` with a
//! `WWW-Authenticate: Bearer` challenge and never echo the token.

use std::borrow::Cow;

use axum::extract::{FromRef, FromRequestParts};
use axum::response::{IntoResponse, Response};
use http::header::{AUTHORIZATION, WWW_AUTHENTICATE};
use http::request::Parts;
use http::{HeaderMap, HeaderValue, StatusCode, Uri};
use orderflow_runtime::Problem;
use orderflow_runtime::serve::ConnectionAuth;

use crate::{AuthError, Authenticator, Principal};

/// Query parameter browsers use for WebSocket upgrades, where they cannot set headers.
pub const ACCESS_TOKEN_QUERY_PARAM: &str = "access_token";

/// The token of an `Authorization: Bearer <token>` header (scheme matched case-insensitively).
///
/// `Ok(None)` when there is no `Authorization` header; an error when there is one but it is not
/// a usable Bearer credential.
pub fn bearer_token(headers: &HeaderMap) -> Result<Option<&str>, AuthError> {
    let Some(value) = headers.get(AUTHORIZATION) else {
        return Ok(None);
    };
    let value = value
        .to_str()
        .map_err(|_| AuthError::InvalidAuthorizationHeader)?;
    let (scheme, token) = value
        .split_once(' ')
        .ok_or(AuthError::InvalidAuthorizationHeader)?;
    let token = token.trim();
    if !scheme.eq_ignore_ascii_case("bearer") || token.is_empty() {
        return Err(AuthError::InvalidAuthorizationHeader);
    }
    Ok(Some(token))
}

/// The token from the `access_token` query parameter (percent-decoded), if present.
pub fn query_token(uri: &Uri) -> Option<Cow<'_, str>> {
    uri.query()?
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .find(|(name, _)| *name == ACCESS_TOKEN_QUERY_PARAM)
        .map(|(_, value)| percent_decode(value))
        .filter(|token| !token.is_empty())
}

/// The token from the `access_token` query parameter, else from the `Authorization` header.
///
/// The gateway uses this for SignalR: browsers put the token in the query string of the
/// WebSocket upgrade, other clients send the header. Query strings end up in access logs, so a
/// service using this must not log request URIs with their query.
pub fn token_from_query_or_header<'a>(
    uri: &'a Uri,
    headers: &'a HeaderMap,
) -> Result<Cow<'a, str>, AuthError> {
    if let Some(token) = query_token(uri) {
        return Ok(token);
    }
    bearer_token(headers)?
        .map(Cow::Borrowed)
        .ok_or(AuthError::MissingToken)
}

/// `Ok` for Admins, else a 403 problem (`code: forbidden`).
pub fn require_admin(principal: &Principal) -> Result<(), Problem> {
    if principal.is_admin() {
        Ok(())
    } else {
        Err(Problem::forbidden(
            "This operation requires the Admin role.",
        ))
    }
}

impl AuthError {
    /// The problem document for this error. The detail is the error's message, which names
    /// the failed check but never contains the token.
    pub fn to_problem(&self) -> Problem {
        match self {
            // Configuration and key-fetch causes are ours: log them, tell the client little.
            Self::Config(_) => Problem::internal(),
            Self::KeysUnavailable(_) => Problem::new(self.problem_code())
                .detail("The token cannot be checked right now; retry shortly."),
            _ => Problem::new(self.problem_code()).detail(self.to_string()),
        }
    }
}

impl IntoResponse for AuthError {
    fn into_response(self) -> Response {
        match &self {
            Self::Config(_) | Self::KeysUnavailable(_) => {
                tracing::error!(error = %self, "cannot authenticate requests");
            }
            _ => tracing::debug!(error = %self, "rejected a bearer token"),
        }
        let mut response = self.to_problem().into_response();
        if response.status() == StatusCode::UNAUTHORIZED {
            // RFC 6750 §3.1: no error code when the request had no credential at all.
            let challenge = if self == Self::MissingToken {
                r#"Bearer realm="orderflow""#
            } else {
                r#"Bearer realm="orderflow", error="invalid_token""#
            };
            response
                .headers_mut()
                .insert(WWW_AUTHENTICATE, HeaderValue::from_static(challenge));
        }
        response
    }
}

impl<S> FromRequestParts<S> for Principal
where
    Authenticator: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = AuthError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let token = bearer_token(&parts.headers)?.ok_or(AuthError::MissingToken)?;
        authenticate_connection(parts, state, token).await
    }
}

/// A [`Principal`] authenticated from the `access_token` query parameter or the
/// `Authorization` header — for WebSocket upgrades and SignalR negotiation only; everything else
/// should take `Principal`, which accepts the header alone.
#[derive(Clone, Debug)]
pub struct QueryOrHeaderPrincipal(pub Principal);

impl<S> FromRequestParts<S> for QueryOrHeaderPrincipal
where
    Authenticator: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = AuthError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let token = token_from_query_or_header(&parts.uri, &parts.headers)?;
        authenticate_connection(parts, state, &token)
            .await
            .map(Self)
    }
}

/// Verifies `token` with the state's [`Authenticator`]; on success the connection has shown
/// credentials and leaves the unauthenticated caps.
async fn authenticate_connection<S>(
    parts: &Parts,
    state: &S,
    token: &str,
) -> Result<Principal, AuthError>
where
    Authenticator: FromRef<S>,
{
    let principal = Authenticator::from_ref(state).authenticate(token).await?;
    ConnectionAuth::of(&parts.extensions).authenticated();
    Ok(principal)
}

/// Decodes `%XX` escapes and `+` (form encoding); invalid escapes are kept verbatim.
fn percent_decode(value: &str) -> Cow<'_, str> {
    if !value.contains(['%', '+']) {
        return Cow::Borrowed(value);
    }
    let hex = |b: u8| (b as char).to_digit(16);
    let bytes = value.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let escaped = (bytes[i] == b'%')
            .then(|| Some(hex(*bytes.get(i + 1)?)? * 16 + hex(*bytes.get(i + 2)?)?))
            .flatten();
        match (bytes[i], escaped) {
            (_, Some(decoded)) => {
                out.push(decoded as u8);
                i += 3;
            }
            (b'+', None) => {
                out.push(b' ');
                i += 1;
            }
            (byte, None) => {
                out.push(byte);
                i += 1;
            }
        }
    }
    Cow::Owned(String::from_utf8_lossy(&out).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_scheme_is_case_insensitive() {
        let mut headers = HeaderMap::new();
        assert_eq!(bearer_token(&headers), Ok(None));
        for value in [
            "Bearer abc.def.ghi",
            "bearer abc.def.ghi",
            "BEARER  abc.def.ghi ",
        ] {
            headers.insert(AUTHORIZATION, HeaderValue::from_static(value));
            assert_eq!(bearer_token(&headers), Ok(Some("abc.def.ghi")));
        }
        for value in ["Basic dXNlcjpwdw==", "Bearer", "Bearer   ", "abc.def.ghi"] {
            headers.insert(AUTHORIZATION, HeaderValue::from_static(value));
            assert_eq!(
                bearer_token(&headers),
                Err(AuthError::InvalidAuthorizationHeader)
            );
        }
    }

    #[test]
    fn query_token_is_found_and_decoded() {
        let uri: Uri = "/hubs/orders?id=1&access_token=a%2Eb.c%zz+d&x=2"
            .parse()
            .unwrap();
        assert_eq!(query_token(&uri).as_deref(), Some("a.b.c%zz d"));
        let uri: Uri = "/hubs/orders?id=1&access_token=".parse().unwrap();
        assert_eq!(query_token(&uri), None);
        let uri: Uri = "/hubs/orders?my_access_token=x".parse().unwrap();
        assert_eq!(query_token(&uri), None);
    }

    #[test]
    fn query_wins_over_header_and_header_is_the_fallback() {
        let mut headers = HeaderMap::new();
        headers.insert(
            AUTHORIZATION,
            HeaderValue::from_static("Bearer from.the.header"),
        );
        let with_query: Uri = "/hub?access_token=from.the.query".parse().unwrap();
        let without: Uri = "/hub".parse().unwrap();
        assert_eq!(
            token_from_query_or_header(&with_query, &headers).unwrap(),
            "from.the.query"
        );
        assert_eq!(
            token_from_query_or_header(&without, &headers).unwrap(),
            "from.the.header"
        );
        assert_eq!(
            token_from_query_or_header(&without, &HeaderMap::new()),
            Err(AuthError::MissingToken)
        );
    }
}
