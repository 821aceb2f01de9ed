//! Demo users and demo data for `cargo xtask up`.
//!
//! The users have fixed ids (the same as `services/dev-idp/src/users.rs`) so that bookmarks, the
//! web app's demo sign-in and the printed tokens agree across restarts. Tokens come from the
//! running dev identity provider (ES256, checked by the services against its JWKS), so the demo
//! exercises the same validation path as a real identity provider. The catalog is `services/inventory/demo/catalog.json`, loaded through
//! the inventory API as an admin would, so demo data takes the same path as real data.

use std::time::Duration;

use anyhow::{Context as _, bail};
use uuid::Uuid;

use crate::process::repo_root;

/// A demo user.
pub struct DemoUser {
    /// Token `sub`.
    pub id: Uuid,
    /// Display name.
    pub name: &'static str,
    /// Roles.
    pub roles: &'static [&'static str],
}

/// The demo users: two customers and an admin.
pub const USERS: &[(&str, DemoUser)] = &[
    (
        "Alice (customer)",
        DemoUser {
            id: Uuid::from_u128(0x0193_0000_0000_7000_8000_0000_0000_a11c),
            name: "Alice Martin",
            roles: &[],
        },
    ),
    (
        "Bob (customer)",
        DemoUser {
            id: Uuid::from_u128(0x0193_0000_0000_7000_8000_0000_0000_0b0b),
            name: "Bob Chen",
            roles: &[],
        },
    ),
    (
        "Ada (admin)",
        DemoUser {
            id: Uuid::from_u128(0x0193_0000_0000_7000_8000_0000_0000_0ada),
            name: "Ada Admin",
            roles: &["Admin"],
        },
    ),
];

/// Where `cargo xtask up` runs the dev identity provider.
pub const DEV_IDP_URL: &str = "http://127.0.0.1:8090";

/// A token for `user` from the running dev identity provider, valid for 12 hours.
pub fn token(user: &DemoUser) -> anyhow::Result<String> {
    let response = reqwest::blocking::Client::new()
        .post(format!("{DEV_IDP_URL}/dev-idp/token"))
        .json(&serde_json::json!({ "userId": user.id, "ttlSeconds": 12 * 3600 }))
        .timeout(Duration::from_secs(10))
        .send()
        .context("asking the dev identity provider for a token")?;
    if !response.status().is_success() {
        bail!(
            "dev identity provider answered HTTP {} for {}",
            response.status(),
            user.name
        );
    }
    let body: serde_json::Value = response.json()?;
    body["accessToken"]
        .as_str()
        .map(str::to_owned)
        .context("the dev identity provider's answer has no accessToken")
}

fn admin_token() -> anyhow::Result<String> {
    let (_, admin) = USERS
        .iter()
        .find(|(_, u)| !u.roles.is_empty())
        .context("an admin demo user")?;
    token(admin)
}

/// Loads the demo catalog into the running inventory service (idempotent: existing products are
/// left as they are).
pub fn load(running: &[&str]) -> anyhow::Result<()> {
    if !running.contains(&"inventory") {
        println!("inventory service not present; no demo catalog loaded");
        return Ok(());
    }
    let path = repo_root().join("services/inventory/demo/catalog.json");
    let text =
        std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    let products: Vec<serde_json::Value> = serde_json::from_str(&text)?;
    let client = reqwest::blocking::Client::new();
    let token = admin_token()?;
    let mut created = 0;
    for product in &products {
        let response = client
            .post("http://127.0.0.1:8082/api/products")
            .bearer_auth(&token)
            .json(product)
            .send()
            .context("calling the inventory API")?;
        match response.status().as_u16() {
            201 => created += 1,
            409 => {}
            status => bail!(
                "loading demo product {product}: HTTP {status}: {}",
                response.text().unwrap_or_default()
            ),
        }
    }
    println!(
        "demo catalog: {created} products created, {} already present",
        products.len() - created
    );
    Ok(())
}
