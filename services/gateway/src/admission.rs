//! The checks a request on the hub URL passes before any transport opens, polls or upgrades
//! anything (origin, readiness, the JWT, a connection token of the same user), the hub URL's
//! own parameters, and the refusals every transport shares. Shared by the WebSocket upgrade
//! (`endpoints`) and the HTTP transports (`http_transport`), so neither depends on the other.
//!
//! Request URIs are never logged: they carry the connection token and possibly the JWT.

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use axum::http::{HeaderMap, HeaderValue, Uri, header};
use axum::response::{IntoResponse, Response};
use orderflow_auth::{AuthError, Principal, token_from_query_or_header};
use orderflow_runtime::Problem;
use orderflow_runtime::problem::codes;
use orderflow_runtime::serve::ConnectionAuth;

use crate::connection::Opening;
use crate::connection_token::{self, Ticket};
use crate::positions::parse_position_list;
use crate::registry::{ConnectionHandle, Refused};
use crate::state::AppState;

pub(crate) fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// The hub URL's parameters (percent-decoded; unknown ones, like `access_token`, ignored).
#[derive(Default)]
pub(crate) struct HubQuery {
    pub(crate) id: Option<String>,
    pub(crate) negotiate_version: Option<String>,
    pub(crate) stateful: bool,
    resume: Option<String>,
    dashboard: bool,
}

impl HubQuery {
    pub(crate) fn parse(uri: &Uri) -> HubQuery {
        let mut q = HubQuery::default();
        for (name, value) in form_urlencoded::parse(uri.query().unwrap_or("").as_bytes()) {
            match name.as_ref() {
                "id" => q.id = Some(value.into_owned()),
                "negotiateVersion" => q.negotiate_version = Some(value.into_owned()),
                "useStatefulReconnect" => q.stateful = value == "true",
                "resume" => q.resume = Some(value.into_owned()),
                "dashboard" => q.dashboard = value == "true",
                _ => {}
            }
        }
        q
    }

    /// The `resume` positions and `dashboard` flag, checked against who is connecting.
    pub(crate) fn opening(&self, principal: &Principal) -> Result<Opening, Response> {
        let resume = match self.resume.as_deref() {
            None | Some("") => None,
            Some(list) => Some(parse_position_list(list).map_err(|e| {
                Problem::new(codes::INVALID_RESUME_POSITION)
                    .detail(e.to_string())
                    .into_response()
            })?),
        };
        if self.dashboard && !principal.is_admin() {
            return Err(
                Problem::forbidden("The admin dashboard requires the Admin role.").into_response(),
            );
        }
        Ok(Opening {
            resume,
            dashboard: self.dashboard,
            ..Opening::default()
        })
    }
}

/// Refuses requests while draining or before the live feeds know where the streams stand.
pub(crate) fn unavailable(state: &AppState) -> Option<Response> {
    if state.shutdown.is_cancelled() {
        return Some(
            Problem::new(codes::DRAINING)
                .detail("The gateway is shutting down.")
                .into_response(),
        );
    }
    if !state.is_ready() {
        return Some(
            Problem::new(codes::STARTING)
                .detail("The gateway is not connected to its event streams yet.")
                .into_response(),
        );
    }
    None
}

pub(crate) async fn authenticate(
    state: &AppState,
    uri: &Uri,
    headers: &HeaderMap,
    connection: &ConnectionAuth,
) -> Result<Principal, Response> {
    let token = token_from_query_or_header(uri, headers).map_err(IntoResponse::into_response)?;
    let principal = state
        .auth
        .authenticate(&token)
        .await
        .map_err(|e: AuthError| e.into_response())?;
    // Credentials shown: the connection leaves the unauthenticated caps.
    connection.authenticated();
    Ok(principal)
}

fn origin_allowed(state: &AppState, headers: &HeaderMap) -> bool {
    match headers.get(header::ORIGIN) {
        // Non-browser clients send no Origin; browsers always do on WebSocket upgrades.
        None => true,
        Some(origin) => state
            .settings
            .allowed_origins
            .iter()
            .any(|o| o.trim().as_bytes() == origin.as_bytes()),
    }
}

pub(crate) fn too_many() -> Response {
    Problem::new(codes::TOO_MANY_CONNECTIONS)
        .detail("Too many open connections for this user.")
        .into_response()
}

pub(crate) fn unknown_connection() -> Response {
    Problem::new(codes::UNKNOWN_CONNECTION)
        .detail("No such connection.")
        .into_response()
}

/// A request on the hub URL that passed the checks every transport shares.
pub(crate) struct Admitted {
    pub principal: Principal,
    pub query: HubQuery,
    pub ticket: Ticket,
}

/// The checks before anything is opened, polled or upgraded: origin, readiness, the JWT, and
/// a connection token of the same user. `skip_negotiation` (a WebSocket without `id`) gets a
/// fresh ticket; the HTTP transports always need the negotiated one.
pub(crate) async fn admit(
    state: &AppState,
    connection: &ConnectionAuth,
    uri: &Uri,
    headers: &HeaderMap,
    skip_negotiation: bool,
) -> Result<Admitted, Response> {
    if !origin_allowed(state, headers) {
        return Err(Problem::forbidden("This origin is not allowed.").into_response());
    }
    if let Some(response) = unavailable(state) {
        return Err(response);
    }
    let principal = authenticate(state, uri, headers, connection).await?;
    let query = HubQuery::parse(uri);
    let ticket = match query.id.as_deref() {
        // skipNegotiation: a fresh, non-stateful connection for this socket.
        None if skip_negotiation => {
            let expires_at = unix_now() + state.settings.handshake_timeout.as_secs();
            connection_token::issue(&state.token_key, principal.user_id, false, expires_at).0
        }
        None => return Err(unknown_connection()),
        // A stateful re-attach, a poll or a POST may come long after the token stopped opening
        // connections: expiry is checked where a connection is opened.
        Some(token) => match connection_token::verify(&state.token_key, token, 0) {
            Ok(ticket) => ticket,
            Err(_) => return Err(unknown_connection()),
        },
    };
    if ticket.user_id != principal.user_id {
        return Err(Problem::forbidden("This connection belongs to another user.").into_response());
    }
    Ok(Admitted {
        principal,
        query,
        ticket,
    })
}

/// What a new connection starts with, if its token may still open one here.
pub(crate) fn opening(state: &AppState, admitted: &Admitted) -> Result<Opening, Response> {
    let ticket = &admitted.ticket;
    if ticket.expires_at < unix_now() || state.registry.has_ended(&ticket.connection_id) {
        return Err(unknown_connection());
    }
    let mut opening = admitted.query.opening(&admitted.principal)?;
    opening.connection_id = ticket.connection_id.clone();
    opening.token_expires_at = ticket.expires_at;
    opening.stateful = ticket.stateful;
    Ok(opening)
}

pub(crate) fn conflict() -> Response {
    Problem::new(codes::ALREADY_ATTACHED)
        .detail("This connection already has a socket.")
        .into_response()
}

/// Registers a new connection `id` on this gateway, or the refusal to answer with: the user's
/// cap is reached (429), or the id is taken (409; a token opens one connection).
pub(crate) fn register(
    state: &AppState,
    id: &str,
    handle: Arc<ConnectionHandle>,
) -> Result<(), Response> {
    let cap = state.settings.max_connections_per_user;
    match state.registry.insert(id, handle, cap, unix_now()) {
        Ok(()) => Ok(()),
        Err(Refused::TooMany) => Err(too_many()),
        Err(Refused::Taken) => Err(conflict()),
    }
}

/// A refusal the client should retry in a second (`Retry-After: 1`).
pub(crate) fn retry_soon(problem: Problem) -> Response {
    let mut response = problem.into_response();
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    response
}
