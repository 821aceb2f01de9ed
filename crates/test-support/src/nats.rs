//! A real nats-server with JetStream for one test, on free loopback ports (optionally with a
//! plain-text WebSocket listener, for benchmarks that compare NATS-over-WebSocket clients).
//!
//! Each server gets its own scratch directory (config, log, JetStream store), so a killed and
//! restarted server finds its streams again. Readiness is judged by the monitoring endpoint
//! `/healthz`, which only answers 200 once the client port is open and JetStream is usable
//! (in a cluster: once the node has found the meta leader and caught up).

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use tempfile::TempDir;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::discover::nats_server_bin;
use crate::error::{Error, Result};
use crate::free_ports;
use crate::process::{self, Spec, Supervised};

/// How long a server (or a cluster node) may take to become healthy.
pub(crate) const READY_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a graceful stop may take before we fall back to SIGKILL.
const STOP_TIMEOUT: Duration = Duration::from_secs(10);

/// Cluster membership of a node: the cluster's name, this node's route port, the other
/// nodes' route ports.
#[derive(Clone, Debug)]
pub(crate) struct RouteConfig {
    pub cluster_name: String,
    pub port: u16,
    pub routes: Vec<u16>,
}

/// A nats-server process with JetStream enabled, listening on 127.0.0.1.
///
/// Dropping it kills the process and deletes its store.
pub struct NatsServer {
    name: String,
    port: u16,
    http_port: u16,
    /// The plain-text WebSocket listener, when started with one.
    websocket_port: Option<u16>,
    dir: PathBuf,
    process: Option<Supervised>,
    // Declared last so the process is killed before its directory is removed.
    _temp: TempDir,
}

impl NatsServer {
    /// Starts a single JetStream-enabled server and waits until it is healthy.
    ///
    /// Panics (this is test support) with the server's log if it cannot start.
    pub async fn start() -> NatsServer {
        let mut last_error = None;
        // Ports are picked before the server binds them; another process may win the race,
        // so a failed start is retried with fresh ports.
        for _ in 0..3 {
            let [port, http_port] = free_ports::<2>();
            match Self::launch("orderflow-test".into(), port, http_port, None).await {
                Ok(server) => return server,
                Err(e) => last_error = Some(e),
            }
        }
        panic!("could not start nats-server: {}", last_error.unwrap());
    }

    /// Like [`Self::start`], plus a plain-text (`no_tls`) WebSocket listener on another free
    /// loopback port (see [`Self::websocket_port`]), so that NATS-over-WebSocket clients can be
    /// compared with the gateway on the same server and the same messages.
    pub async fn start_with_websocket() -> NatsServer {
        Self::start_extended(true, "").await
    }

    /// Like [`Self::start`], but every client must log in as `user` with `password` (put
    /// them in the URL: `nats://user:password@127.0.0.1:<port>`).
    pub async fn start_with_user(user: &str, password: &str) -> NatsServer {
        let block =
            format!("authorization {{\n  user: \"{user}\"\n  password: \"{password}\"\n}}\n");
        Self::start_extended(false, &block).await
    }

    /// A single server, with a WebSocket listener if asked, and `extra` configuration.
    async fn start_extended(websocket: bool, extra: &str) -> NatsServer {
        let mut last_error = None;
        for _ in 0..3 {
            let [port, http_port, ws_port] = free_ports::<3>();
            let started = async {
                let mut server = Self::prepare_with(
                    "orderflow-test".into(),
                    port,
                    http_port,
                    None,
                    websocket.then_some(ws_port),
                    extra,
                )?;
                server.spawn()?;
                server.wait_healthy(READY_TIMEOUT).await?;
                Ok::<_, Error>(server)
            };
            match started.await {
                Ok(server) => return server,
                Err(e) => last_error = Some(e),
            }
        }
        panic!("could not start nats-server: {}", last_error.unwrap());
    }

    async fn launch(
        name: String,
        port: u16,
        http_port: u16,
        cluster: Option<RouteConfig>,
    ) -> Result<NatsServer> {
        let mut server = Self::prepare(name, port, http_port, cluster)?;
        server.spawn()?;
        server.wait_healthy(READY_TIMEOUT).await?;
        Ok(server)
    }

    /// Creates the scratch directory and config file without starting the process.
    pub(crate) fn prepare(
        name: String,
        port: u16,
        http_port: u16,
        cluster: Option<RouteConfig>,
    ) -> Result<NatsServer> {
        Self::prepare_with(name, port, http_port, cluster, None, "")
    }

    fn prepare_with(
        name: String,
        port: u16,
        http_port: u16,
        cluster: Option<RouteConfig>,
        websocket_port: Option<u16>,
        extra: &str,
    ) -> Result<NatsServer> {
        let temp = tempfile::Builder::new()
            .prefix("orderflow-nats-")
            .tempdir()
            .map_err(|e| Error::io("creating nats-server scratch dir", e))?;
        let dir = temp.path().to_path_buf();
        let mut config = render_config(&name, port, http_port, &dir.join("jetstream"), cluster);
        if let Some(ws_port) = websocket_port {
            config.push_str(&websocket_block(ws_port));
        }
        config.push_str(extra);
        std::fs::write(dir.join("nats.conf"), config)
            .map_err(|e| Error::io("writing nats-server config", e))?;
        Ok(NatsServer {
            name,
            port,
            http_port,
            websocket_port,
            dir,
            process: None,
            _temp: temp,
        })
    }

    /// Starts the process from the existing config (first start or restart).
    pub(crate) fn spawn(&mut self) -> Result<()> {
        let bin = nats_server_bin();
        let config = self.dir.join("nats.conf");
        // Replacing `self.process` drops the old watcher only after the new one is in place,
        // so the store is always guarded against this process dying.
        let process = process::spawn(Spec {
            program: &bin,
            args: vec!["-c".into(), config.display().to_string()],
            log: &self.log_path(),
            stop_signal: "TERM",
            cleanup_dir: Some(&self.dir),
            run_as: None,
            current_dir: &self.dir,
        })?;
        self.process = Some(process);
        Ok(())
    }

    /// Waits until `/healthz` answers 200, failing early if the process exits.
    pub(crate) async fn wait_healthy(&mut self, timeout: Duration) -> Result<()> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.process.as_mut().and_then(Supervised::exit_status) {
                return Err(Error::ExitedEarly {
                    what: format!("nats-server {}", self.name),
                    status: status.to_string(),
                    log: self.log_path(),
                    tail: process::log_tail(&self.log_path(), 20),
                });
            }
            if self.is_healthy().await {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(Error::NotReady {
                    what: format!("nats-server {}", self.name),
                    secs: timeout.as_secs(),
                    log: self.log_path(),
                    tail: process::log_tail(&self.log_path(), 20),
                });
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    /// Whether the monitoring endpoint reports the server (and its JetStream) healthy.
    pub async fn is_healthy(&self) -> bool {
        matches!(http_get(self.http_port, "/healthz").await, Some((200, _)))
    }

    /// The JetStream meta leader's server name as this node sees it (from `/jsz`).
    pub async fn meta_leader(&self) -> Option<String> {
        let (status, body) = http_get(self.http_port, "/jsz").await?;
        if status != 200 {
            return None;
        }
        let json: serde_json::Value = serde_json::from_str(&body).ok()?;
        let leader = json.pointer("/meta_cluster/leader")?.as_str()?;
        (!leader.is_empty()).then(|| leader.to_string())
    }

    /// Client URL, e.g. `nats://127.0.0.1:41234`.
    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    /// Publishes one message with a header block written byte for byte (`NATS/1.0\r\n`, the
    /// header lines, an empty line) over a raw client connection, and waits for the server to
    /// have taken it. Clients validate what they send; this sends what a hostile or broken
    /// publisher can, such as a header value with a bare `\r`.
    pub async fn publish_protocol(&self, subject: &str, header_block: &str, payload: &[u8]) {
        use tokio::io::{AsyncBufReadExt, BufReader};
        let stream = TcpStream::connect(("127.0.0.1", self.port))
            .await
            .expect("connect to nats-server");
        let mut raw = BufReader::new(stream);
        let mut line = String::new();
        raw.read_line(&mut line).await.expect("INFO");
        let mut frame = format!(
            "CONNECT {{\"verbose\":false,\"headers\":true}}\r\nHPUB {subject} {} {}\r\n{header_block}",
            header_block.len(),
            header_block.len() + payload.len()
        )
        .into_bytes();
        frame.extend_from_slice(payload);
        frame.extend_from_slice(b"\r\nPING\r\n");
        raw.get_mut().write_all(&frame).await.expect("publish");
        line.clear();
        raw.read_line(&mut line).await.expect("PONG");
        assert_eq!(line, "PONG\r\n", "nats-server refused the message");
    }

    /// Client port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// HTTP monitoring port (`/varz`, `/jsz`, `/healthz`).
    pub fn monitoring_port(&self) -> u16 {
        self.http_port
    }

    /// WebSocket port, if started by [`Self::start_with_websocket`] (`ws://127.0.0.1:<port>`).
    pub fn websocket_port(&self) -> Option<u16> {
        self.websocket_port
    }

    /// The server's process id while it runs (for reading its CPU time from `/proc`).
    pub fn pid(&self) -> Option<u32> {
        self.process.as_ref().map(Supervised::pid)
    }

    /// Server name (`n1`.. in a cluster).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// JetStream store directory; survives [`Self::kill`] and [`Self::restart`].
    pub fn store_dir(&self) -> PathBuf {
        self.dir.join("jetstream")
    }

    /// The server's combined stdout/stderr log, handy when a test fails.
    pub fn log_path(&self) -> PathBuf {
        self.dir.join("nats.log")
    }

    /// Whether the process is alive.
    pub fn is_running(&mut self) -> bool {
        self.process.as_mut().is_some_and(Supervised::is_running)
    }

    /// Kills the process with SIGKILL, simulating a crash; returns once it is gone.
    pub fn kill(&mut self) {
        if let Some(process) = self.process.as_mut() {
            process.kill();
        }
    }

    /// Graceful shutdown (SIGTERM), falling back to SIGKILL after 10 s.
    pub async fn stop(&mut self) {
        if let Some(process) = self.process.as_mut() {
            process.stop_async(STOP_TIMEOUT).await;
        }
    }

    /// Starts the server again on the same ports with the same store, so JetStream data
    /// survives; a running server is stopped gracefully first. Panics if it does not come up.
    pub async fn restart(&mut self) {
        if let Err(e) = self.try_restart().await {
            panic!("could not restart nats-server {}: {e}", self.name);
        }
    }

    pub(crate) async fn try_restart(&mut self) -> Result<()> {
        self.stop().await;
        self.spawn()?;
        self.wait_healthy(READY_TIMEOUT).await
    }
}

fn render_config(
    name: &str,
    port: u16,
    http_port: u16,
    store: &Path,
    cluster: Option<RouteConfig>,
) -> String {
    let mut config = format!(
        "server_name: \"{name}\"\n\
         listen: \"127.0.0.1:{port}\"\n\
         http: \"127.0.0.1:{http_port}\"\n\
         jetstream {{\n  store_dir: \"{}\"\n  max_memory_store: 256MB\n  max_file_store: 2GB\n}}\n",
        store.display()
    );
    if let Some(cluster) = cluster {
        let routes: Vec<String> = cluster
            .routes
            .iter()
            .map(|p| format!("\"nats-route://127.0.0.1:{p}\""))
            .collect();
        config.push_str(&format!(
            "cluster {{\n  name: \"{}\"\n  listen: \"127.0.0.1:{}\"\n  routes: [{}]\n}}\n",
            cluster.cluster_name,
            cluster.port,
            routes.join(", ")
        ));
    }
    config
}

/// A WebSocket listener without TLS: loopback only, so there is nothing to protect, and
/// benchmarks should not measure TLS.
fn websocket_block(port: u16) -> String {
    format!("websocket {{\n  listen: \"127.0.0.1:{port}\"\n  no_tls: true\n}}\n")
}

/// A minimal HTTP/1.0 GET against the loopback monitoring port: `(status, body)`.
async fn http_get(port: u16, path: &str) -> Option<(u16, String)> {
    let exchange = async {
        let mut stream = TcpStream::connect(("127.0.0.1", port)).await.ok()?;
        let request = format!("GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n");
        stream.write_all(request.as_bytes()).await.ok()?;
        let mut response = Vec::new();
        stream.read_to_end(&mut response).await.ok()?;
        let text = String::from_utf8_lossy(&response);
        let (head, body) = text.split_once("\r\n\r\n")?;
        let status = head.split_whitespace().nth(1)?.parse().ok()?;
        Some((status, body.to_string()))
    };
    tokio::time::timeout(Duration::from_secs(2), exchange)
        .await
        .ok()
        .flatten()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cluster_config_lists_routes() {
        let cluster = RouteConfig {
            cluster_name: "c".into(),
            port: 6222,
            routes: vec![6223, 6224],
        };
        let config = render_config("n1", 4222, 8222, Path::new("/s"), Some(cluster));
        assert!(config.contains("server_name: \"n1\""));
        assert!(config.contains("listen: \"127.0.0.1:6222\""));
        assert!(config.contains(
            "routes: [\"nats-route://127.0.0.1:6223\", \"nats-route://127.0.0.1:6224\"]"
        ));
        assert!(config.contains("store_dir: \"/s\""));
    }

    #[test]
    fn websocket_block_listens_on_loopback_without_tls() {
        assert_eq!(
            websocket_block(8443),
            "websocket {\n  listen: \"127.0.0.1:8443\"\n  no_tls: true\n}\n"
        );
    }
}
