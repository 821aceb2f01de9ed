//! The two HTTP endpoints of the hub: `POST /hubs/orders/negotiate` (CORS, authentication, a
//! self-validating connection token) and the WebSocket upgrade on `GET /hubs/orders?id=…`
//! (Origin check, authentication, token check, same-user check, all before anything is
//! upgraded). Negotiate keeps no state, so the upgrade may land on any gateway that shares the
//! token key. Both read the hub URL's own parameters: `resume=` (where the client stopped) and
//! `dashboard=true` (join the admin dashboard at connect).
//!
//! The checks every hub-URL transport shares are in `admission`; this module hands a request
//! that passed them to the WebSocket upgrade here or to `http_transport`.
//!
//! Request URIs are never logged: they carry the connection token and possibly the JWT.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::extract::ws::WebSocketUpgrade;
use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, HeaderValue, Method, Uri, header};
use axum::response::{IntoResponse, Response};
use orderflow_auth::Principal;
use orderflow_runtime::Problem;
use orderflow_runtime::limits::client_ip;
use orderflow_runtime::problem::codes;
use orderflow_runtime::serve::ConnectionAuth;
use orderflow_runtime::storm::Storm;
use serde_json::json;
use tower_http::cors::{AllowOrigin, CorsLayer};

use crate::admission::{
    Admitted, HubQuery, admit, authenticate, conflict, opening, register, retry_soon, too_many,
    unavailable, unix_now,
};
use crate::connection_token::{self, Ticket};
use crate::http_transport;
use crate::registry::{Attach, ConnectionHandle};
use crate::session::{self, Opening};
use crate::state::AppState;
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
    retry_soon(
        Problem::new(codes::TOO_MANY_NEGOTIATES)
            .detail("Too many connection attempts from this address; try again shortly."),
    )
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
    if let Err(response) = register(state, &ticket.connection_id, Arc::clone(&handle)) {
        return response;
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
