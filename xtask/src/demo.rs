//! Demo users and demo data for `cargo xtask up`.
//!
//! The users have fixed ids (the same as `services/dev-idp/src/users.rs`) so that bookmarks, the
//! web app's demo sign-in and the tokens in the token file agree across restarts. Tokens come from the
//! running dev identity provider (ES256, checked by the services against its JWKS), so the demo
//! exercises the same validation path as a real identity provider. The catalog is `services/inventory/demo/catalog.json`, loaded through
//! the inventory API as an admin would, so demo data takes the same path as real data.

use std::io::Write as _;
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::Path;
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

/// How long the tokens in the token file are valid.
pub const TOKEN_TTL: Duration = Duration::from_secs(12 * 3600);

/// A token for `user` from the running dev identity provider, valid for [`TOKEN_TTL`].
pub fn token(user: &DemoUser) -> anyhow::Result<String> {
    let response = reqwest::blocking::Client::new()
        .post(format!("{DEV_IDP_URL}/dev-idp/token"))
        .json(&serde_json::json!({ "userId": user.id, "ttlSeconds": TOKEN_TTL.as_secs() }))
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
/// left as they are); says what it did.
pub fn load(running: &[&str]) -> anyhow::Result<String> {
    if !running.contains(&"inventory") {
        return Ok("inventory service not present; no demo catalog loaded".to_owned());
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
    Ok(format!(
        "{created} products created, {} already present",
        products.len() - created
    ))
}

/// The shell variable that holds `user`'s token in the token file: `ALICE_TOKEN` for Alice
/// Martin.
pub fn token_variable(user: &DemoUser) -> String {
    let first = user.name.split_whitespace().next().unwrap_or("DEMO");
    format!("{}_TOKEN", first.to_ascii_uppercase())
}

/// Writes `tokens` (user, token) to `path` as shell assignments (`source` it, or read it with
/// any dotenv loader), readable by the owner only: anyone holding a token can act as that user
/// until it expires. The tokens are bearer credentials, so they go to this file and never to the
/// terminal or a log.
pub fn write_token_file(path: &Path, tokens: &[(&DemoUser, String)]) -> anyhow::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    // Replaced, not rewritten in place, so an older file with wider permissions cannot keep them.
    let _ = std::fs::remove_file(path);
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("creating {}", path.display()))?;
    writeln!(
        file,
        "# Demo tokens from the dev identity provider (development only), valid {} h from when\n\
         # `cargo xtask up` started. Use: . {}\n\
         # curl -H \"Authorization: Bearer $ALICE_TOKEN\" http://127.0.0.1:8081/api/orders",
        TOKEN_TTL.as_secs() / 3600,
        path.display()
    )?;
    for (user, token) in tokens {
        let roles = if user.roles.is_empty() {
            "customer".to_owned()
        } else {
            user.roles.join(", ")
        };
        writeln!(file, "# {} ({roles}), sub {}", user.name, user.id)?;
        writeln!(file, "{}={token}", token_variable(user))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt as _;

    use super::*;

    #[test]
    fn token_file_holds_one_variable_per_user_and_only_its_owner_may_read_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("run").join("demo-tokens.env");
        // An older file anyone could read is replaced, not reused with its permissions.
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, "old").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();

        let tokens: Vec<(&DemoUser, String)> = USERS
            .iter()
            .enumerate()
            .map(|(i, (_, user))| (user, format!("header.payload{i}.signature")))
            .collect();
        write_token_file(&path, &tokens).unwrap();

        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "mode {mode:o}");
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(!text.contains("old"));
        let assignments: Vec<(&str, &str)> = text
            .lines()
            .filter(|l| !l.starts_with('#'))
            .map(|l| l.split_once('=').unwrap())
            .collect();
        assert_eq!(
            assignments,
            [
                ("ALICE_TOKEN", "header.payload0.signature"),
                ("BOB_TOKEN", "header.payload1.signature"),
                ("ADA_TOKEN", "header.payload2.signature"),
            ]
        );
        // What the file says to run works in a POSIX shell: the variables come out as written.
        let shown = std::process::Command::new("sh")
            .arg("-c")
            .arg(format!(". '{}'; echo \"$BOB_TOKEN\"", path.display()))
            .output()
            .unwrap();
        assert_eq!(
            String::from_utf8(shown.stdout).unwrap().trim(),
            "header.payload1.signature"
        );
    }
}
