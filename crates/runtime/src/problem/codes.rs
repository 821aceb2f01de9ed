//! Every problem `code` an OrderFlow HTTP API answers with, in one table: its HTTP status, what
//! it means, and which services can answer it. A [`crate::Problem`] can only be made from a
//! [`Code`] of this table, so a code cannot be used without being listed here, and its status
//! cannot differ from one place to another. The table is rendered into each REST service's
//! OpenAPI document and into docs/error-codes.md (a test keeps that file in step).
//!
//! A code, once published, keeps its meaning: clients branch on it. Add a new one rather than
//! changing what an existing one says.

use axum::http::StatusCode;

/// Which services may answer a code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// Every HTTP service (the serve loop, authentication, failures of our own).
    Any,
    /// The REST services, orders and inventory (JSON bodies, queries, the database).
    Rest,
    /// Only the orders service.
    Orders,
    /// Only the inventory service.
    Inventory,
    /// Only the gateway (negotiate, the HTTP transports).
    Gateway,
}

impl Scope {
    /// Whether a code of this scope can come from `service` (`"orders"`, `"inventory"` or
    /// `"gateway"`).
    pub fn includes(self, service: &str) -> bool {
        match self {
            Self::Any => true,
            Self::Rest => matches!(service, "orders" | "inventory"),
            Self::Orders => service == "orders",
            Self::Inventory => service == "inventory",
            Self::Gateway => service == "gateway",
        }
    }

    /// The services, as the docs table names them.
    pub fn label(self) -> &'static str {
        match self {
            Self::Any => "all",
            Self::Rest => "orders, inventory",
            Self::Orders => "orders",
            Self::Inventory => "inventory",
            Self::Gateway => "gateway",
        }
    }
}

/// One row of the table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Code {
    /// The stable machine-readable code, e.g. `order_not_found`.
    pub name: &'static str,
    /// The HTTP status every problem with this code has.
    pub status: StatusCode,
    /// What it means for a client, and what to do about it.
    pub meaning: &'static str,
    /// Which services can answer it.
    pub scope: Scope,
}

macro_rules! codes {
    ($($(#[$doc:meta])* $ident:ident = ($name:literal, $status:ident, $scope:ident, $meaning:literal);)*) => {
        $(
            $(#[$doc])*
            pub const $ident: Code = Code {
                name: $name,
                status: StatusCode::$status,
                meaning: $meaning,
                scope: Scope::$scope,
            };
        )*
        /// The whole table, in the order of this file.
        pub const ALL: &[Code] = &[$($ident),*];
    };
}

codes! {
    INTERNAL_ERROR = ("internal_error", INTERNAL_SERVER_ERROR, Any,
        "A failure of ours; it has been logged. Retrying may help.");
    MISSING_TOKEN = ("missing_token", UNAUTHORIZED, Any,
        "No bearer token: send `Authorization: Bearer <JWT>` (or `access_token` where the gateway allows it).");
    INVALID_TOKEN = ("invalid_token", UNAUTHORIZED, Any,
        "The token is malformed, forged, or for another issuer or audience; `detail` names the failed check.");
    TOKEN_EXPIRED = ("token_expired", UNAUTHORIZED, Any,
        "The token has expired: get a new one.");
    AUTH_KEYS_UNAVAILABLE = ("auth_keys_unavailable", SERVICE_UNAVAILABLE, Any,
        "The identity provider's signing keys cannot be fetched right now; retry shortly.");
    FORBIDDEN = ("forbidden", FORBIDDEN, Any,
        "Authenticated, but not allowed: the operation needs the Admin role, or the resource belongs to someone else.");
    OVERLOADED = ("overloaded", SERVICE_UNAVAILABLE, Any,
        "The service holds as many connections as it is configured for; retry after `Retry-After`.");
    ROUTE_NOT_FOUND = ("route_not_found", NOT_FOUND, Rest,
        "No such path in this API.");
    UNSUPPORTED_MEDIA_TYPE = ("unsupported_media_type", UNSUPPORTED_MEDIA_TYPE, Rest,
        "The body must be sent as `application/json`.");
    MALFORMED_JSON = ("malformed_json", BAD_REQUEST, Rest,
        "The body is not valid JSON.");
    INVALID_BODY = ("invalid_body", BAD_REQUEST, Rest,
        "The body is JSON but not of the expected shape (a missing or mistyped field).");
    INVALID_QUERY = ("invalid_query", BAD_REQUEST, Rest,
        "The query string cannot be parsed or names an unknown parameter; in inventory, also a `limit` out of range.");
    INVALID_CURSOR = ("invalid_cursor", BAD_REQUEST, Rest,
        "The page cursor is not one this API issued.");
    INVALID_LIMIT = ("invalid_limit", BAD_REQUEST, Orders,
        "`limit` is out of range (1 to 100).");
    VALIDATION_FAILED = ("validation_failed", UNPROCESSABLE_ENTITY, Rest,
        "A field's value is not acceptable; `detail` says which and why.");
    DATABASE_UNAVAILABLE = ("database_unavailable", SERVICE_UNAVAILABLE, Rest,
        "PostgreSQL cannot be reached. Retry the same request (same `Idempotency-Key`) after `Retry-After`.");
    ORDER_NOT_FOUND = ("order_not_found", NOT_FOUND, Orders,
        "No such order, or not one of the caller's.");
    INVALID_ORDER_ID = ("invalid_order_id", BAD_REQUEST, Orders,
        "The order id in the path is not a UUID.");
    INVALID_STATUS = ("invalid_status", BAD_REQUEST, Orders,
        "The status filter names no order status.");
    INVALID_IF_MATCH = ("invalid_if_match", BAD_REQUEST, Orders,
        "`If-Match` must be an ETag from this API, e.g. `\"3\"`, or `*`.");
    INVALID_IDEMPOTENCY_KEY = ("invalid_idempotency_key", BAD_REQUEST, Orders,
        "`Idempotency-Key` must be 1-255 visible ASCII characters.");
    INVALID_TRANSITION = ("invalid_transition", CONFLICT, Orders,
        "The order's status does not allow this action; `currentStatus` and `command` say why.");
    EMPTY_ORDER = ("empty_order", CONFLICT, Orders,
        "An order without lines cannot be confirmed.");
    VERSION_MISMATCH = ("version_mismatch", PRECONDITION_FAILED, Orders,
        "`If-Match` named an older version; `currentVersion` is the order's. Reload and retry.");
    UNKNOWN_SKU = ("unknown_sku", UNPROCESSABLE_ENTITY, Orders,
        "A line names a sku the catalog does not have; `skus` lists them.");
    MIXED_CURRENCIES = ("mixed_currencies", UNPROCESSABLE_ENTITY, Orders,
        "The lines' products are priced in different currencies.");
    IDEMPOTENCY_KEY_REUSED = ("idempotency_key_reused", UNPROCESSABLE_ENTITY, Orders,
        "This `Idempotency-Key` was already used with a different request body.");
    PRODUCT_NOT_FOUND = ("product_not_found", NOT_FOUND, Inventory,
        "No product with this sku; `sku` names it.");
    INVALID_SKU = ("invalid_sku", BAD_REQUEST, Inventory,
        "The sku in the path is not 1-64 characters of A-Z, 0-9 and `-`.");
    SKU_TAKEN = ("sku_taken", CONFLICT, Inventory,
        "A product with this sku already exists.");
    INSUFFICIENT_STOCK = ("insufficient_stock", CONFLICT, Inventory,
        "The adjustment would take the stock below zero; `available` is what there is.");
    STOCK_LIMIT_EXCEEDED = ("stock_limit_exceeded", CONFLICT, Inventory,
        "The stock level would exceed the largest one accepted.");
    DRAINING = ("draining", SERVICE_UNAVAILABLE, Gateway,
        "This gateway is shutting down; connect again (the load balancer sends you to another).");
    STARTING = ("starting", SERVICE_UNAVAILABLE, Gateway,
        "This gateway is not connected to its event streams yet; retry shortly.");
    TOO_MANY_NEGOTIATES = ("too_many_negotiates", TOO_MANY_REQUESTS, Gateway,
        "Too many connection attempts from this address; retry after `Retry-After`.");
    TOO_MANY_CONNECTIONS = ("too_many_connections", TOO_MANY_REQUESTS, Gateway,
        "The user already holds as many connections as one user may.");
    INVALID_NEGOTIATE_VERSION = ("invalid_negotiate_version", BAD_REQUEST, Gateway,
        "`negotiateVersion` is not 0 or 1.");
    INVALID_RESUME_POSITION = ("invalid_resume_position", BAD_REQUEST, Gateway,
        "The `resume` position is not one this gateway issued.");
    UNKNOWN_CONNECTION = ("unknown_connection", NOT_FOUND, Gateway,
        "No connection with this id: it ended, or never started. Negotiate again.");
    ALREADY_ATTACHED = ("already_attached", CONFLICT, Gateway,
        "This connection already has a transport (a second WebSocket or event stream).");
    MESSAGE_TOO_LARGE = ("message_too_large", PAYLOAD_TOO_LARGE, Gateway,
        "A hub message larger than the gateway accepts.");
    NATS_UNAVAILABLE = ("nats_unavailable", SERVICE_UNAVAILABLE, Gateway,
        "The gateway cannot reach NATS, or the gateway holding this connection; retry.");
}

/// The table as Markdown: the body of docs/error-codes.md.
pub fn markdown_table() -> String {
    let mut table = String::from("| code | status | services | meaning |\n|---|---|---|---|\n");
    for code in ALL {
        table.push_str(&format!(
            "| `{}` | {} | {} | {} |\n",
            code.name,
            code.status.as_u16(),
            code.scope.label(),
            code.meaning.replace('|', "\\|")
        ));
    }
    table
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::{ALL, markdown_table};

    /// docs/error-codes.md shows the table as it is here. `ORDERFLOW_BLESS=1` rewrites it.
    #[test]
    fn the_docs_show_this_table() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/error-codes.md");
        let docs = std::fs::read_to_string(path).expect("docs/error-codes.md");
        let (head, rest) = docs
            .split_once(TABLE_START)
            .expect("docs/error-codes.md has the table's start marker");
        let (_, tail) = rest
            .split_once(TABLE_END)
            .expect("docs/error-codes.md has the table's end marker");
        let expected = format!("{head}{TABLE_START}\n{}{TABLE_END}{tail}", markdown_table());
        if docs != expected && std::env::var_os("ORDERFLOW_BLESS").is_some() {
            std::fs::write(path, &expected).expect("rewrite docs/error-codes.md");
            return;
        }
        assert!(
            docs == expected,
            "docs/error-codes.md differs from the table in codes.rs; rerun with ORDERFLOW_BLESS=1"
        );
    }

    const TABLE_START: &str = "<!-- table: generated from crates/runtime/src/problem/codes.rs -->";
    const TABLE_END: &str = "<!-- end of table -->";

    #[test]
    fn codes_are_unique_snake_case_and_errors() {
        let mut seen = HashSet::new();
        for code in ALL {
            assert!(seen.insert(code.name), "{} is listed twice", code.name);
            assert!(
                code.name
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b == b'_'),
                "{} is not snake_case",
                code.name
            );
            assert!(code.status.as_u16() >= 400, "{} is not an error", code.name);
            assert!(
                code.meaning.ends_with('.'),
                "{}: say it in a sentence",
                code.name
            );
        }
    }
}
