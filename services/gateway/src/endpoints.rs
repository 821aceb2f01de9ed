//! The two HTTP endpoints of the hub: `POST /hubs/orders/negotiate` (CORS, authentication,
//! connection id and secret token) and the WebSocket upgrade on `GET /hubs/orders?id=…`
//! (Origin check, authentication, same-user check, all before anything is upgraded).
//!
//! Request URIs are never logged: they carry the connection token and possibly the JWT.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use axum::Json;
use axum::extract::State;
use axum::extract::ws::WebSocketUpgrade;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use orderflow_auth::{AuthError, Principal, token_from_query_or_header};
use orderflow_runtime::Problem;
use rand::Rng;
use serde_json::json;
use tokio::sync::mpsc;
use tower_http::cors::{AllowOrigin, CorsLayer};

use crate::app::AppState;
use crate::registry::ConnectionHandle;
use crate::session;

/// CORS for negotiate: the exact allowed origin echoed back, with credentials.
pub fn cors(origins: &[String]) -> CorsLayer {
    let origins: Vec<HeaderValue> = origins
        .iter()
        .filter_map(|o| HeaderValue::from_str(o.trim()).ok())
        .collect();
    CorsLayer::new()
        .allow_origin(AllowOrigin::list(origins))
        .allow_credentials(true)
        .allow_methods([Method::POST, Method::OPTIONS])
        .allow_headers([
            header::AUTHORIZATION,
            header::CONTENT_TYPE,
            header::HeaderName::from_static("x-requested-with"),
            header::HeaderName::from_static("x-signalr-user-agent"),
        ])
}

/// A random URL-safe secret (the client appends it to URLs verbatim).
fn random_id() -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut rng = rand::rng();
    (0..22)
        .map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char)
        .collect()
}

/// Decoded query parameters other than the token (which is read by the auth crate).
fn query_param(uri: &Uri, name: &str) -> Option<String> {
    uri.query()?
        .split('&')
        .filter_map(|pair| pair.split_once('=').or(Some((pair, ""))))
        .find(|(n, _)| *n == name)
        .map(|(_, v)| v.replace('+', " "))
}

async fn authenticate(
    state: &AppState,
    uri: &Uri,
    headers: &HeaderMap,
) -> Result<Principal, Response> {
    let token = token_from_query_or_header(uri, headers).map_err(IntoResponse::into_response)?;
    state
        .auth
        .authenticate(&token)
        .await
        .map_err(|e: AuthError| e.into_response())
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

/// Registers a new connection and starts its task; `None` when the user is at the cap.
fn open_connection(
    state: &AppState,
    principal: &Principal,
    stateful: bool,
) -> Option<(String, String, Arc<ConnectionHandle>)> {
    let (attach, attach_rx) = mpsc::channel(1);
    let handle = Arc::new(ConnectionHandle {
        user_id: principal.user_id,
        attach,
        attached: AtomicBool::new(false),
        stateful: AtomicBool::new(false),
    });
    let token = random_id();
    let connection_id = random_id();
    if !state.registry.insert(
        token.clone(),
        Arc::clone(&handle),
        state.settings.max_connections_per_user,
    ) {
        return None;
    }
    state.tracker.spawn(session::run(
        state.clone(),
        Arc::clone(&handle),
        token.clone(),
        connection_id.clone(),
        principal.clone(),
        attach_rx,
        stateful,
    ));
    Some((token, connection_id, handle))
}

fn too_many() -> Response {
    Problem::new(StatusCode::TOO_MANY_REQUESTS, "too_many_connections")
        .detail("Too many open connections for this user.")
        .into_response()
}

/// `POST /hubs/orders/negotiate?negotiateVersion=1[&useStatefulReconnect=true]`.
pub async fn negotiate(State(state): State<AppState>, uri: Uri, headers: HeaderMap) -> Response {
    if state.shutdown.is_cancelled() {
        return Problem::new(StatusCode::SERVICE_UNAVAILABLE, "draining")
            .detail("The gateway is shutting down.")
            .into_response();
    }
    let principal = match authenticate(&state, &uri, &headers).await {
        Ok(p) => p,
        Err(response) => return response,
    };
    let version = query_param(&uri, "negotiateVersion")
        .and_then(|v| v.parse::<u32>().ok())
        .unwrap_or(0);
    if version < 1 {
        return Json(json!({ "error": "This server requires negotiateVersion 1 or later." }))
            .into_response();
    }
    let stateful = query_param(&uri, "useStatefulReconnect").as_deref() == Some("true");
    let Some((token, connection_id, _)) = open_connection(&state, &principal, stateful) else {
        return too_many();
    };
    let mut body = json!({
        "negotiateVersion": 1,
        "connectionId": connection_id,
        "connectionToken": token,
        "availableTransports": [{ "transport": "WebSockets", "transferFormats": ["Text"] }],
    });
    if stateful {
        body["useStatefulReconnect"] = json!(true);
    }
    Json(body).into_response()
}

/// `GET /hubs/orders?id=<connectionToken>` with `Upgrade: websocket`.
pub async fn upgrade(
    State(state): State<AppState>,
    uri: Uri,
    headers: HeaderMap,
    ws: WebSocketUpgrade,
) -> Response {
    if !origin_allowed(&state, &headers) {
        return Problem::forbidden("This origin is not allowed.").into_response();
    }
    if state.shutdown.is_cancelled() {
        return StatusCode::SERVICE_UNAVAILABLE.into_response();
    }
    let principal = match authenticate(&state, &uri, &headers).await {
        Ok(p) => p,
        Err(response) => return response,
    };
    let handle = match query_param(&uri, "id") {
        // skipNegotiation: a fresh, non-stateful connection for this socket.
        None => match open_connection(&state, &principal, false) {
            Some((_, _, handle)) => handle,
            None => return too_many(),
        },
        Some(token) => match state.registry.get(&token) {
            None => {
                return Problem::not_found("unknown_connection", "No such connection.")
                    .into_response();
            }
            Some(handle) => handle,
        },
    };
    if handle.user_id != principal.user_id {
        return Problem::forbidden("This connection belongs to another user.").into_response();
    }
    let was_attached = handle.attached.swap(true, Ordering::AcqRel);
    if was_attached && !handle.stateful.load(Ordering::Acquire) {
        return Problem::new(StatusCode::CONFLICT, "already_attached")
            .detail("This connection already has a socket.")
            .into_response();
    }
    let max = state.settings.max_message_bytes;
    // Clients send little (pings, acks, a rare invocation): 1 KiB per read keeps every idle
    // connection small, and a larger message still gets its full length reserved by tungstenite.
    ws.read_buffer_size(1024)
        .write_buffer_size(0)
        .max_write_buffer_size(256 * 1024)
        .max_message_size(max)
        .max_frame_size(max)
        .on_upgrade(move |socket| async move {
            // If the connection ended meanwhile the socket is simply dropped.
            let _ = handle
                .attach
                .send(Box::new(crate::registry::Attach { socket, principal }))
                .await;
        })
}
