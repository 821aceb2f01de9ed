//! What every REST service's OpenAPI document declares the same way: bearer authentication, and
//! the problem+json body of every error response with the codes of [`codes::ALL`] that the
//! service can answer, so the document and the code table cannot disagree.

use orderflow_runtime::problem::PROBLEM_JSON;
use orderflow_runtime::problem::codes::{self, Code};
use utoipa::Modify;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{Content, OpenApi, Ref, RefOr, Required, Response, Schema};

/// Declares the `bearer` security scheme (a JWT in `Authorization: Bearer`).
pub struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .build(),
            ),
        );
    }
}

/// Adds the `Problem` schema, with the codes `service` can answer as the `code` enum, and makes
/// every error response of every operation a problem+json document whose description lists the
/// codes of its status. Every operation also gets the 500 that any request can meet, and one
/// that requires a JSON body the 400 and 415 that [`crate::extract::ApiJson`] answers.
pub struct Problems {
    /// `"orders"` or `"inventory"`, as [`codes::Scope::includes`] names them.
    pub service: &'static str,
}

impl Problems {
    fn codes(&self) -> impl Iterator<Item = &'static Code> + '_ {
        codes::ALL
            .iter()
            .filter(|code| code.scope.includes(self.service))
    }

    fn schema(&self) -> Schema {
        let names: Vec<&str> = self.codes().map(|code| code.name).collect();
        serde_json::from_value(serde_json::json!({
            "type": "object",
            "description": "An RFC 9457 problem document. `code` is stable; branch on it, not on `title` or `detail`. Members such as `currentStatus` or `sku` are added where a code says so.",
            "required": ["type", "title", "status", "code"],
            "properties": {
                "type": { "type": "string", "description": "`urn:orderflow:problem:<code>`." },
                "title": { "type": "string", "description": "The status's reason phrase." },
                "status": { "type": "integer", "description": "The HTTP status." },
                "detail": { "type": "string", "description": "What went wrong this time, for people." },
                "code": { "type": "string", "enum": names }
            },
            "additionalProperties": true
        }))
        .expect("the Problem schema is a valid schema")
    }

    fn response(&self, status: u16) -> Response {
        let mut description = String::new();
        for code in self.codes().filter(|code| code.status.as_u16() == status) {
            description.push_str(&format!("`{}`: {} ", code.name, code.meaning));
        }
        let mut response = Response::new(description.trim_end());
        response.content.insert(
            PROBLEM_JSON.to_owned(),
            RefOr::T(Content::new(Some(Ref::from_schema_name("Problem")))),
        );
        response
    }
}

impl Modify for Problems {
    fn modify(&self, openapi: &mut OpenApi) {
        openapi
            .components
            .get_or_insert_with(Default::default)
            .schemas
            .insert("Problem".to_owned(), RefOr::T(self.schema()));
        for item in openapi.paths.paths.values_mut() {
            let operations = [
                &mut item.get,
                &mut item.put,
                &mut item.post,
                &mut item.delete,
                &mut item.patch,
            ];
            for operation in operations.into_iter().flatten() {
                // ApiJson answers 400 and 415 for a body the operation requires.
                let has_body = matches!(
                    &operation.request_body,
                    Some(RefOr::T(body)) if body.required == Some(Required::True)
                );
                let responses = &mut operation.responses.responses;
                let always: &[&str] = if has_body {
                    &["400", "415", "500"]
                } else {
                    &["500"]
                };
                for status in always {
                    responses
                        .entry((*status).to_owned())
                        .or_insert_with(|| RefOr::T(Response::new("")));
                }
                for (status, response) in responses.iter_mut() {
                    let Ok(status) = status.parse::<u16>() else {
                        continue;
                    };
                    if status >= 400 {
                        *response = RefOr::T(self.response(status));
                    }
                }
            }
        }
    }
}

/// `GET /api/openapi.json`: the document of `D`.
pub async fn document<D: utoipa::OpenApi>() -> axum::Json<OpenApi> {
    axum::Json(D::openapi())
}

/// Panics unless every code of the table that `service` can answer appears under some
/// documented response of `openapi` (so every status it can answer is declared), each as a
/// problem+json body: the services' tests call this on their documents.
pub fn assert_problems_documented(openapi: &OpenApi, service: &'static str) {
    let text = serde_json::to_string(openapi).expect("an OpenAPI document serializes");
    let missing: Vec<&str> = codes::ALL
        .iter()
        .filter(|code| code.scope.includes(service))
        .filter(|code| !text.contains(&format!("`{}`:", code.name)))
        .map(|code| code.name)
        .collect();
    assert!(
        missing.is_empty(),
        "codes no response of {service} documents: {missing:?}"
    );
    assert!(text.contains(&format!("\"{PROBLEM_JSON}\"")));
    assert!(text.contains("\"#/components/schemas/Problem\""));
}
