//! One fresh, isolated PostgreSQL database per test.
//!
//! The server is either the one named by `ORDERFLOW_TEST_PG_URL` (started once per run by
//! `cargo xtask test`, the fast path) or a throwaway cluster that this test process starts on
//! first use and that dies with the process. Each test then gets its own `t_<uuid>` database,
//! so tests never see each other's rows and need no cleanup.

use std::str::FromStr;
use std::sync::OnceLock;

use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::{AssertSqlSafe, Connection, PgConnection};

use crate::discover::TEST_PG_URL_ENV;
use crate::pg::PgCluster;
use crate::proxy::TcpProxy;

/// A database created for one test. Dropping it leaves the database behind; the server is
/// thrown away at the end of the run anyway.
#[derive(Clone, Debug)]
pub struct TestDatabase {
    /// Superuser connection URL of this database.
    pub url: String,
    /// The database name, `t_<32 hex digits>`.
    pub name: String,
}

impl TestDatabase {
    /// This database reached through a new [`TcpProxy`] in front of its server, so that a test
    /// can take the database away from a running service (`cut`, `pause`) and give it back.
    pub async fn behind_proxy(&self) -> (TestDatabase, TcpProxy) {
        let options = self.connect_options();
        let proxy = TcpProxy::start(([127, 0, 0, 1], options.get_port()).into())
            .await
            .expect("starting a TCP proxy on loopback");
        let proxied = TestDatabase {
            url: format!(
                "postgres://{}@127.0.0.1:{}/{}",
                options.get_username(),
                proxy.port(),
                self.name
            ),
            name: self.name.clone(),
        };
        (proxied, proxy)
    }

    /// A new connection pool to this database (create one per test runtime).
    pub async fn pool(&self) -> PgPool {
        PgPoolOptions::new()
            .max_connections(10)
            .connect_with(self.connect_options())
            .await
            .unwrap_or_else(|e| panic!("connecting to test database {}: {e}", self.name))
    }

    /// Connection options for this database, for code that builds its own pool.
    pub fn connect_options(&self) -> PgConnectOptions {
        PgConnectOptions::from_str(&self.url)
            .unwrap_or_else(|e| panic!("invalid test database URL {}: {e}", self.url))
    }
}

/// Creates a new empty database on the test server. Panics if the server cannot be reached
/// or started.
pub async fn fresh_database() -> TestDatabase {
    let server = server_url().await;
    let name = format!("t_{}", uuid::Uuid::new_v4().simple());
    let mut admin = PgConnection::connect(&server)
        .await
        .unwrap_or_else(|e| panic!("connecting to test PostgreSQL at {server}: {e}"));
    // The name is generated above from hex digits only, so formatting it in is safe.
    sqlx::query(AssertSqlSafe(format!("CREATE DATABASE \"{name}\"")))
        .execute(&mut admin)
        .await
        .unwrap_or_else(|e| panic!("creating test database {name}: {e}"));
    let _ = admin.close().await;
    let url = with_database(&server, &name);
    TestDatabase { url, name }
}

/// Superuser URL of the server that [`fresh_database`] uses, starting the per-process
/// cluster if needed.
pub async fn server_url() -> String {
    if let Some(url) = shared_server_url() {
        return url;
    }
    static LOCAL: OnceLock<Result<PgCluster, String>> = OnceLock::new();
    // initdb and startup block for about a second; keep them off the async runtime. The
    // cluster lives in a static, so it is never dropped: when the process exits, the
    // watchdog (see `process`) shuts it down and deletes its directory.
    let cluster = tokio::task::spawn_blocking(|| {
        LOCAL
            .get_or_init(|| PgCluster::start_temporary().map_err(|e| e.to_string()))
            .as_ref()
            .map(PgCluster::url)
            .map_err(Clone::clone)
    })
    .await
    .unwrap_or_else(|e| std::panic::resume_unwind(e.into_panic()));
    cluster.unwrap_or_else(|e| panic!("could not start a test PostgreSQL cluster: {e}"))
}

fn shared_server_url() -> Option<String> {
    std::env::var(TEST_PG_URL_ENV)
        .ok()
        .filter(|u| !u.is_empty())
}

/// Replaces the database in a `postgres://` URL, keeping user, host, port and query.
fn with_database(url: &str, database: &str) -> String {
    // Going through PgConnectOptions would lose the original spelling; a URL we were
    // handed has the form scheme://authority[/db][?query].
    let (scheme, rest) = url.split_once("://").unwrap_or(("postgres", url));
    let (before_query, query) = match rest.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (rest, None),
    };
    let authority = before_query.split('/').next().unwrap_or(before_query);
    match query {
        Some(q) => format!("{scheme}://{authority}/{database}?{q}"),
        None => format!("{scheme}://{authority}/{database}"),
    }
}

#[cfg(test)]
mod tests {
    use super::with_database;

    #[test]
    fn swaps_the_database_in_a_url() {
        assert_eq!(
            with_database("postgres://postgres@127.0.0.1:5432/postgres", "t_1"),
            "postgres://postgres@127.0.0.1:5432/t_1"
        );
        assert_eq!(
            with_database("postgres://u:p@localhost:1/x?sslmode=disable", "t_2"),
            "postgres://u:p@localhost:1/t_2?sslmode=disable"
        );
        assert_eq!(
            with_database("postgresql://u@h:1", "t_3"),
            "postgresql://u@h:1/t_3"
        );
    }
}
