//! The demo users the dev identity provider signs in: two customers and an admin.
//!
//! The ids are fixed and identical to `xtask/src/demo.rs`, so tokens, bookmarks and the web app's
//! sign-in page agree across restarts.

use serde::Serialize;
use uuid::Uuid;

/// A user the dev identity provider can issue tokens for.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct DemoUser {
    /// Token `sub`.
    pub id: Uuid,
    /// Display name (`name` claim).
    pub name: &'static str,
    /// `roles` claim.
    pub roles: &'static [&'static str],
    /// One line for the sign-in page.
    pub description: &'static str,
}

/// Alice and Bob (customers) and Ada (admin).
pub fn demo_users() -> Vec<DemoUser> {
    vec![
        DemoUser {
            id: Uuid::from_u128(0x0193_0000_0000_7000_8000_0000_0000_a11c),
            name: "Alice Martin",
            roles: &[],
            description: "Customer",
        },
        DemoUser {
            id: Uuid::from_u128(0x0193_0000_0000_7000_8000_0000_0000_0b0b),
            name: "Bob Chen",
            roles: &[],
            description: "Customer",
        },
        DemoUser {
            id: Uuid::from_u128(0x0193_0000_0000_7000_8000_0000_0000_0ada),
            name: "Ada Admin",
            roles: &["Admin"],
            description: "Administrator: dashboard, fulfilment, stock",
        },
    ]
}
