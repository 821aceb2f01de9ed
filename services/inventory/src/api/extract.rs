//! Request parsing at the edge: path skus and page cursors. Every failure is a problem
//! document, never axum's plain-text rejection. (JSON bodies and query strings:
//! `orderflow_service::extract`.)

use orderflow_runtime::Problem;
use orderflow_runtime::problem::codes;

use crate::domain::Sku;

/// Parses a sku from the path.
pub fn path_sku(raw: &str) -> Result<Sku, Problem> {
    Sku::parse(raw).map_err(|e| Problem::new(codes::INVALID_SKU).detail(e.to_string()))
}

/// Decodes a page cursor: the sku of the last product of the previous page.
pub fn decode_cursor(raw: &str) -> Result<Sku, Problem> {
    Sku::parse(raw).map_err(|_| {
        Problem::new(codes::INVALID_CURSOR).detail("The cursor is not one this API issued.")
    })
}
