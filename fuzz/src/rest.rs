//! Input of `rest_bodies`: one request to the orders or inventory REST API, reduced to what its
//! handler parses before touching the database.
//!
//! Layout: one byte choosing the [`Endpoint`] (modulo 8), one byte choosing the content type
//! (modulo 5, see [`CONTENT_TYPES`]), one byte whose lowest bit says whether the caller is an
//! Admin, and the rest: the body, or for the `List*` endpoints the query string, or for
//! [`Endpoint::OrderHeaders`] the value tried as `If-Match`, `Idempotency-Key` and order id.

use arbitrary::{Arbitrary, Result, Unstructured};

use crate::{Writer, byte, rest};

/// What the request is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    /// 0: `POST /api/orders`.
    CreateOrder,
    /// 1: `POST /api/orders/{id}/cancel` (its optional body).
    CancelOrder,
    /// 2: `GET /api/orders?…`.
    ListOrders,
    /// 3: the `If-Match` and `Idempotency-Key` headers and the `{id}` of order paths.
    OrderHeaders,
    /// 4: `POST /api/products`.
    CreateProduct,
    /// 5: `PATCH /api/products/{sku}`.
    UpdateProduct,
    /// 6: `POST /api/products/{sku}/stock-adjustments`.
    AdjustStock,
    /// 7: `GET /api/products?…`, and the `{sku}` of product paths.
    ListProducts,
}

const ENDPOINTS: [Endpoint; 8] = [
    Endpoint::CreateOrder,
    Endpoint::CancelOrder,
    Endpoint::ListOrders,
    Endpoint::OrderHeaders,
    Endpoint::CreateProduct,
    Endpoint::UpdateProduct,
    Endpoint::AdjustStock,
    Endpoint::ListProducts,
];

/// The `Content-Type` of the request, by index; `None` sends no header.
pub const CONTENT_TYPES: [Option<&str>; 5] = [
    Some("application/json"),
    Some("application/json; charset=utf-8"),
    Some("application/problem+json"),
    Some("text/plain"),
    None,
];

/// One request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BodyInput<'a> {
    /// Which handler.
    pub endpoint: Endpoint,
    /// Index into [`CONTENT_TYPES`].
    pub content_type: usize,
    /// The caller has the Admin role.
    pub admin: bool,
    /// Body, query string or header value.
    pub body: &'a [u8],
}

impl<'a> Arbitrary<'a> for BodyInput<'a> {
    fn arbitrary(u: &mut Unstructured<'a>) -> Result<Self> {
        Ok(BodyInput {
            endpoint: ENDPOINTS[usize::from(byte(u)?) % ENDPOINTS.len()],
            content_type: usize::from(byte(u)?) % CONTENT_TYPES.len(),
            admin: byte(u)? & 1 == 1,
            body: rest(u),
        })
    }
}

impl BodyInput<'_> {
    /// The bytes that decode to this input.
    pub fn to_bytes(&self) -> Vec<u8> {
        let endpoint = ENDPOINTS
            .iter()
            .position(|e| *e == self.endpoint)
            .expect("every endpoint is listed");
        Writer::default()
            .byte(u8::try_from(endpoint).expect("small index"))
            .byte(u8::try_from(self.content_type).expect("small index"))
            .byte(u8::from(self.admin))
            .rest(self.body)
            .finish()
    }
}
