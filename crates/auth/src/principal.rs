//! The authenticated caller, parsed once from a validated token's claims.
//!
//! Handlers receive a [`Principal`] and never look at raw claims, so the rules for reading
//! `sub`, `name` and roles live in exactly one place.

use serde_json::{Map, Value};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::AuthError;

/// The role that grants access to admin-only endpoints and the admin dashboard group.
pub const ADMIN_ROLE: &str = "Admin";

/// Who is calling, as proven by a validated token.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Principal {
    /// The `sub` claim; OrderFlow subjects are UUIDs (customer ids).
    pub user_id: Uuid,
    /// The `name` claim, empty when the token has none.
    pub name: String,
    /// Union of the `role` and `roles` claims (each a string or an array of strings),
    /// deduplicated, in token order.
    pub roles: Vec<String>,
    /// The `exp` claim; long-lived connections close or refresh at this instant.
    pub expires_at: OffsetDateTime,
}

impl Principal {
    /// Whether the caller holds `role` (exact, case-sensitive match).
    pub fn has_role(&self, role: &str) -> bool {
        self.roles.iter().any(|r| r == role)
    }

    /// Whether the caller holds the [`ADMIN_ROLE`].
    pub fn is_admin(&self) -> bool {
        self.has_role(ADMIN_ROLE)
    }

    /// Builds a principal from claims whose signature, `exp`, `iss` and `aud` were already
    /// validated.
    pub(crate) fn from_claims(claims: &Map<String, Value>) -> Result<Self, AuthError> {
        let user_id = match claims.get("sub") {
            None | Some(Value::Null) => return Err(AuthError::MissingClaim("sub".to_owned())),
            Some(Value::String(sub)) => {
                Uuid::parse_str(sub).map_err(|_| invalid("sub", "must be a UUID"))?
            }
            Some(_) => return Err(invalid("sub", "must be a string holding a UUID")),
        };
        let name = match claims.get("name") {
            None | Some(Value::Null) => String::new(),
            Some(Value::String(name)) => name.clone(),
            Some(_) => return Err(invalid("name", "must be a string")),
        };
        let mut roles = Vec::new();
        for claim in ["role", "roles"] {
            collect_roles(claim, claims.get(claim), &mut roles)?;
        }
        let expires_at = match claims.get("exp") {
            None | Some(Value::Null) => return Err(AuthError::MissingClaim("exp".to_owned())),
            Some(exp) => exp
                .as_f64()
                // Fractional seconds are legal NumericDate values; whole seconds are enough here.
                .and_then(|secs| OffsetDateTime::from_unix_timestamp(secs.floor() as i64).ok())
                .ok_or_else(|| invalid("exp", "must be a number of seconds since the epoch"))?,
        };
        Ok(Self {
            user_id,
            name,
            roles,
            expires_at,
        })
    }
}

fn collect_roles(
    claim: &str,
    value: Option<&Value>,
    roles: &mut Vec<String>,
) -> Result<(), AuthError> {
    let mut push = |role: &str| {
        if !roles.iter().any(|r| r == role) {
            roles.push(role.to_owned());
        }
    };
    match value {
        None | Some(Value::Null) => {}
        Some(Value::String(role)) => push(role),
        Some(Value::Array(items)) => {
            for item in items {
                let role = item
                    .as_str()
                    .ok_or_else(|| invalid(claim, "must be a string or an array of strings"))?;
                push(role);
            }
        }
        Some(_) => return Err(invalid(claim, "must be a string or an array of strings")),
    }
    Ok(())
}

fn invalid(claim: &str, reason: &str) -> AuthError {
    AuthError::InvalidClaim {
        claim: claim.to_owned(),
        reason: reason.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse(value: Value) -> Result<Principal, AuthError> {
        Principal::from_claims(value.as_object().unwrap())
    }

    const SUB: &str = "7f3c1e1a-8a52-4b8e-9a55-3f0c2d1b9e01";

    #[test]
    fn roles_merge_string_and_array_forms() {
        let p = parse(json!({"sub": SUB, "exp": 2_000_000_000, "role": "Admin", "roles": ["Support", "Admin"]})).unwrap();
        assert_eq!(p.roles, ["Admin", "Support"]);
        assert!(p.is_admin());
        assert!(p.has_role("Support"));
        assert!(!p.has_role("admin"));
        assert_eq!(p.name, "");
        assert_eq!(p.expires_at.unix_timestamp(), 2_000_000_000);
    }

    #[test]
    fn bad_shapes_are_precise() {
        let err = parse(json!({"sub": SUB, "exp": 1, "roles": [1]})).unwrap_err();
        assert!(matches!(err, AuthError::InvalidClaim { ref claim, .. } if claim == "roles"));
        let err = parse(json!({"sub": 42, "exp": 1})).unwrap_err();
        assert!(matches!(err, AuthError::InvalidClaim { ref claim, .. } if claim == "sub"));
        let err = parse(json!({"exp": 1})).unwrap_err();
        assert_eq!(err, AuthError::MissingClaim("sub".into()));
        let err = parse(json!({"sub": SUB, "exp": 1, "name": ["x"]})).unwrap_err();
        assert!(matches!(err, AuthError::InvalidClaim { ref claim, .. } if claim == "name"));
    }
}
