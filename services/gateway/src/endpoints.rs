//! The two HTTP endpoints of the hub: `POST /hubs/orders/negotiate` (CORS, authentication, a
//! self-validating connection token) and the WebSocket upgrade on `GET /hubs/orders?id=…`
//! (Origin check, authentication, token check, same-user check, all before anything is
//! upgraded). Negotiate keeps no state, so the upgrade may land on any gateway that shares the
//! token key. Both read the hub URL's own parameters: `resume=` (where the client stopped) and
//! `dashboard=true` (join the admin dashboard at connect).
//!
//! Request URIs are never logged: they carry the connection token and possibly the JWT.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::Json;
use axum::extract::ws::WebSocketUpgrade;
use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, HeaderValue, Method, Uri, header};
use axum::response::{IntoResponse, Response};
use orderflow_auth::{AuthError, Principal, token_from_query_or_header};
use orderflow_runtime::Problem;
use orderflow_runtime::limits::client_ip;
use orderflow_runtime::problem::codes;
use orderflow_runtime::serve::ConnectionAuth;
use orderflow_runtime::storm::Storm;
use serde_json::json;
use tower_http::cors::{AllowOrigin, CorsLayer};

use crate::app::AppState;
use crate::connection_token::{self, Ticket};
use crate::http_transport;
use crate::registry::{Attach, ConnectionHandle, Refused};
use crate::resume::parse_position_list;
use crate::session::{self, Opening};
use crate::transport::Transport;

/// CORS for the hub's URLs (negotiate: POST; the hub: GET, POST, DELETE for Server-Sent
/// Events and long polling): the exact allowed origin echoed back, with credentials.
pub fn cors(origins: &[String], methods: &[Method]) -> CorsLayer {
    let origins: Vec<HeaderValue> = origins
        .iter()
        .filter_map(|o| HeaderValue::from_str(o.trim()).ok())
        .collect();
    CorsLayer::new()
        .allow_origin(AllowOrigin::list(origins))
        .allow_credentials(true)
        .allow_methods(
            methods
                .iter()
                .cloned()
                .chain([Method::OPTIONS])
                .collect::<Vec<_>>(),
        )
        .allow_headers([
            header::AUTHORIZATION,
            header::CONTENT_TYPE,
            header::HeaderName::from_static("x-requested-with"),
            header::HeaderName::from_static("x-signalr-user-agent"),
        ])
}

pub(crate) fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// The hub URL's parameters (percent-decoded; unknown ones, like `access_token`, ignored).
#[derive(Default)]
pub(crate) struct HubQuery {
    id: Option<String>,
    negotiate_version: Option<String>,
    stateful: bool,
    resume: Option<String>,
    dashboard: bool,
}

impl HubQuery {
    fn parse(uri: &Uri) -> HubQuery {
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
    fn opening(&self, principal: &Principal) -> Result<Opening, Response> {
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
fn unavailable(state: &AppState) -> Option<Response> {
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

async fn authenticate(
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

/// Logs refused negotiates as one line per period, however many there are.
static NEGOTIATE_FLOOD: Storm = Storm::new(
    "negotiates refused: GATEWAY_NEGOTIATE_RATE_PER_SOURCE exceeded",
    Duration::from_secs(10),
);

/// Whether the client behind `peer` may negotiate now (its per-address rate).
fn negotiate_allowed(state: &AppState, peer: SocketAddr, headers: &HeaderMap) -> bool {
    let client = client_ip(peer, headers, &state.settings.http);
    if state.negotiate_rate.allow(client) {
        return true;
    }
    metrics::counter!(crate::metrics::NEGOTIATES_REFUSED).increment(1);
    NEGOTIATE_FLOOD.record(&client);
    false
}

fn too_many_negotiates() -> Response {
    let mut response = Problem::new(codes::TOO_MANY_NEGOTIATES)
        .detail("Too many connection attempts from this address; try again shortly.")
        .into_response();
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    response
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

/// `POST /hubs/orders/negotiate[?negotiateVersion=0|1][&useStatefulReconnect=true]`.
pub async fn negotiate(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    connection: ConnectionAuth,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    if let Some(response) = unavailable(&state) {
        return response;
    }
    // Before the signature check: a flood of bad tokens costs one map lookup each.
    if !negotiate_allowed(&state, peer, &headers) {
        return too_many_negotiates();
    }
    let principal = match authenticate(&state, &uri, &headers, &connection).await {
        Ok(p) => p,
        Err(response) => return response,
    };
    let query = HubQuery::parse(&uri);
    // Fail at start, with the reason, rather than at the socket. The cap is checked again
    // when the socket opens (on whichever gateway that is); this answers early on this one.
    if let Err(response) = query.opening(&principal) {
        return response;
    }
    if state.registry.count_for(principal.user_id) >= state.settings.max_connections_per_user {
        return too_many();
    }
    // Version 1 answers with a public id and a separate token; version 0 (clients that send
    // no `negotiateVersion`, such as the Python ones by default) has only `connectionId`,
    // which the client then sends as `id`, so there it is the sealed token itself: the same
    // secret, checked the same way (ASP.NET Core does the same for version 0).
    let version = match query.negotiate_version.as_deref().map(str::parse::<u32>) {
        None => 0,
        Some(Ok(v)) => v.min(1),
        Some(Err(_)) => {
            return Problem::new(codes::INVALID_NEGOTIATE_VERSION)
                .detail("negotiateVersion must be a non-negative integer.")
                .into_response();
        }
    };
    let stateful = query.stateful && version >= 1;
    let expires_at = unix_now() + state.settings.handshake_timeout.as_secs();
    let (ticket, token) =
        connection_token::issue(&state.token_key, principal.user_id, stateful, expires_at);
    // Server-Sent Events carry text only, so JSON only (as in ASP.NET Core).
    let transports = json!([
        { "transport": "WebSockets", "transferFormats": ["Text", "Binary"] },
        { "transport": "ServerSentEvents", "transferFormats": ["Text"] },
        { "transport": "LongPolling", "transferFormats": ["Text", "Binary"] },
    ]);
    let mut body = if version == 0 {
        json!({ "negotiateVersion": 0, "connectionId": token, "availableTransports": transports })
    } else {
        json!({
            "negotiateVersion": 1,
            "connectionId": ticket.connection_id,
            "connectionToken": token,
            "availableTransports": transports,
        })
    };
    if stateful {
        body["useStatefulReconnect"] = json!(true);
    }
    Json(body).into_response()
}

/// `GET /hubs/orders`: a WebSocket upgrade, a Server-Sent Events stream
/// (`Accept: text/event-stream`), or a long poll.
pub async fn hub_get(
    State(state): State<AppState>,
    connection: ConnectionAuth,
    uri: Uri,
    headers: HeaderMap,
    ws: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Response {
    let admitted = match admit(&state, &connection, &uri, &headers, ws.is_ok()).await {
        Ok(admitted) => admitted,
        Err(response) => return response,
    };
    match ws {
        Ok(ws) => upgrade(&state, admitted, ws),
        Err(_) if wants_event_stream(&headers) => {
            http_transport::event_stream(&state, admitted).await
        }
        Err(_) => http_transport::poll(&state, admitted).await,
    }
}

fn wants_event_stream(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::ACCEPT)
        .iter()
        .any(|v| v.to_str().is_ok_and(|v| v.contains("text/event-stream")))
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

/// The WebSocket: a re-attach of a stateful connection held here, or a new connection.
fn upgrade(state: &AppState, admitted: Admitted, ws: WebSocketUpgrade) -> Response {
    if let Some(existing) = state.registry.get(&admitted.ticket.connection_id) {
        return reattach(state, existing, admitted.principal, ws);
    }
    let opening = match opening(state, &admitted) {
        Ok(opening) => opening,
        Err(response) => return response,
    };
    open(state, &admitted.ticket, opening, admitted.principal, ws)
}

/// A new connection for this socket.
fn open(
    state: &AppState,
    ticket: &Ticket,
    opening: Opening,
    principal: Principal,
    ws: WebSocketUpgrade,
) -> Response {
    let handle = Arc::new(ConnectionHandle {
        user_id: principal.user_id,
        attach: std::sync::OnceLock::new(),
        http: None,
    });
    match state.registry.insert(
        &ticket.connection_id,
        Arc::clone(&handle),
        state.settings.max_connections_per_user,
        unix_now(),
    ) {
        Ok(()) => {}
        Err(Refused::TooMany) => return too_many(),
        Err(Refused::Taken) => return conflict(),
    }
    // The session cleans up after itself; if the upgrade fails it never runs, so release the
    // registration here.
    let release = {
        let app = state.clone();
        let (id, user, expires_at) = (
            ticket.connection_id.clone(),
            principal.user_id,
            ticket.expires_at,
        );
        move |_: axum::Error| app.registry.remove(&id, user, expires_at)
    };
    let app = state.clone();
    let tracker = state.tracker.clone();
    configure(state, ws)
        .on_failed_upgrade(release)
        .on_upgrade(move |socket| {
            tracker.track_future(session::run(
                app,
                handle,
                principal,
                Transport::WebSocket(socket),
                opening,
            ))
        })
}

/// A second socket for a connection this gateway holds: only stateful connections accept one.
fn reattach(
    state: &AppState,
    existing: Arc<ConnectionHandle>,
    principal: Principal,
    ws: WebSocketUpgrade,
) -> Response {
    let Some(attach) = existing.attach.get().cloned() else {
        return conflict();
    };
    configure(state, ws).on_upgrade(move |socket| async move {
        // If the connection ended meanwhile the socket is simply dropped.
        let _ = attach.send(Box::new(Attach { socket, principal })).await;
    })
}

pub(crate) fn conflict() -> Response {
    Problem::new(codes::ALREADY_ATTACHED)
        .detail("This connection already has a socket.")
        .into_response()
}

fn configure(state: &AppState, ws: WebSocketUpgrade) -> WebSocketUpgrade {
    let max = state.settings.max_message_bytes;
    // Clients send little (pings, acks, a rare invocation of a few hundred bytes): 512 bytes per
    // read keeps every idle connection small, and a larger message still gets its full length
    // reserved by tungstenite (it only takes more reads).
    ws.read_buffer_size(512)
        .write_buffer_size(0)
        .max_write_buffer_size(256 * 1024)
        .max_message_size(max)
        .max_frame_size(max)
}
