//! A NATS connection of its own for the live feed's one subscription, read by the feed task
//! itself: no connection task, no channel, and no header map per message (see [`super::wire`]).
//!
//! It does what a subscriber needs and nothing more: connect to the configured servers in
//! turn (user and password, or a token, from the URL), subscribe, answer the server's pings,
//! ping a quiet server to notice a stalled link, and reconnect with a back-off. It never
//! recovers messages itself: each (re)connection is reported to the feed, which compares the
//! stream's end with what it delivered and fills the gap from the stream. TLS is not spoken
//! here; a server that requires it is reported, and the feed subscribes through the general
//! client instead.

use std::time::Duration;

use async_nats::ServerAddr;
use bytes::{Buf, BytesMut};
use orderflow_runtime::connect::{UrlCredentials, url_credentials};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::Instant;

use super::wire::{self, Message, MessageAt, ServerOp, WireError};

/// A quiet server is pinged after this long, and the link counts as stalled when the ping is
/// not answered in as long again (the general client's setting).
const PING_INTERVAL: Duration = Duration::from_secs(10);
/// Connecting, up to the server's answer to our first ping.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Back-off after a whole round of servers failed, doubling from this up to `MAX_BACKOFF`.
const MIN_BACKOFF: Duration = Duration::from_millis(50);
const MAX_BACKOFF: Duration = Duration::from_secs(2);
/// How the link's connections are named in nats-server's monitoring.
const CONNECTION_NAME: &str = "orderflow-gateway-live";
/// Read buffer to start with and to reserve per read: a burst of live events fits.
const READ_CHUNK: usize = 64 * 1024;

/// What [`DirectLink::ready`] found.
pub enum Ready {
    /// A message on the subscription: [`DirectLink::message`] reads it.
    Message,
    /// The link (re)connected and the subscription is registered: from here on every message
    /// published to the subject arrives, and whatever was published before may not have.
    Linked,
    /// The servers require something this link does not speak (TLS).
    Unsupported(&'static str),
}

/// Why a connection ended.
#[derive(Debug, thiserror::Error)]
enum LinkError {
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error(transparent)]
    Wire(#[from] WireError),
    #[error("the server said: {0}")]
    Server(String),
    #[error("the server did not answer a ping in {PING_INTERVAL:?}")]
    Stalled,
    #[error("connection closed by the server")]
    Closed,
    #[error("the server requires TLS")]
    NeedsTls,
    #[error("an operation of over {0} bytes is beyond the server's own limit")]
    Oversized(usize),
}

/// The server information the link acts on.
#[derive(serde::Deserialize, Default)]
struct Info {
    #[serde(default)]
    tls_required: bool,
    #[serde(default)]
    headers: bool,
    #[serde(default)]
    max_payload: usize,
}

/// One subscription over a connection of its own.
pub struct DirectLink {
    servers: Vec<ServerAddr>,
    subject: String,
    conn: Option<Conn>,
    /// Index of the server to try next.
    next_server: usize,
    /// Connection attempts that failed since the last success.
    failures: u32,
    /// The message last found at the front of the buffer, and its length (dropped from the
    /// buffer at the next call).
    found: Option<MessageAt>,
    consumed: usize,
}

impl DirectLink {
    /// A link that will subscribe to `subject` on `servers`; it connects on the first
    /// [`ready`](Self::ready).
    pub fn new(servers: Vec<ServerAddr>, subject: String) -> DirectLink {
        DirectLink {
            servers,
            subject,
            conn: None,
            next_server: 0,
            failures: 0,
            found: None,
            consumed: 0,
        }
    }

    /// Waits for the next message, or a (re)connection. Cancel-safe: bytes read stay buffered,
    /// and a connection attempt dropped half-way is simply made again.
    pub async fn ready(&mut self) -> Ready {
        loop {
            let Some(conn) = self.conn.as_mut() else {
                match self.connect().await {
                    Ok(conn) => {
                        self.conn = Some(conn);
                        (self.found, self.consumed) = (None, 0);
                        return Ready::Linked;
                    }
                    Err(reason) => return Ready::Unsupported(reason),
                }
            };
            self.found = None;
            conn.read.advance(std::mem::take(&mut self.consumed));
            match conn.until_message().await {
                Ok((found, used)) => {
                    (self.found, self.consumed) = (Some(found), used);
                    return Ready::Message;
                }
                Err(error) => {
                    tracing::warn!(%error, subject = %self.subject, "live link lost; reconnecting");
                    self.conn = None;
                }
            }
        }
    }

    /// The message [`ready`](Self::ready) found; it borrows the read buffer until the next
    /// call of `ready`. (Two calls rather than one returning the message: a borrow returned
    /// from inside the reconnect loop would hold the link for the whole loop.)
    pub fn message(&self) -> Message<'_> {
        match (&self.conn, &self.found) {
            (Some(conn), Some(found)) => found.read(&conn.read),
            _ => unreachable!("message() is only called after ready() found one"),
        }
    }

    /// Tries the servers in turn until one takes the subscription; `Err` only when they need
    /// TLS.
    async fn connect(&mut self) -> Result<Conn, &'static str> {
        loop {
            if self.failures > 0 && (self.failures as usize).is_multiple_of(self.servers.len()) {
                let rounds = self.failures as usize / self.servers.len();
                let backoff = MIN_BACKOFF * 2u32.saturating_pow(rounds.min(16) as u32 - 1);
                tokio::time::sleep(backoff.min(MAX_BACKOFF)).await;
            }
            let server = self.servers[self.next_server % self.servers.len()].clone();
            self.next_server = self.next_server.wrapping_add(1);
            let attempt = Conn::open(&server, &self.subject);
            match tokio::time::timeout(CONNECT_TIMEOUT, attempt).await {
                Ok(Ok(conn)) => {
                    if self.failures > 0 {
                        tracing::info!(subject = %self.subject, "live link back");
                    }
                    self.failures = 0;
                    return Ok(conn);
                }
                Ok(Err(LinkError::NeedsTls)) => return Err("the NATS server requires TLS"),
                Ok(Err(error)) => self.failed(&server, &error),
                Err(_) => self.failed(&server, &"timed out"),
            }
        }
    }

    fn failed(&mut self, server: &ServerAddr, error: &dyn std::fmt::Display) {
        // The first failure of an outage is worth a warning; the retries are not.
        if self.failures == 0 {
            tracing::warn!(%error, server = %redacted(server), "live link cannot connect; retrying");
        } else {
            tracing::debug!(%error, server = %redacted(server), "live link cannot connect");
        }
        self.failures = self.failures.saturating_add(1);
    }
}

/// A server address without its credentials, for logs.
fn redacted(server: &ServerAddr) -> String {
    format!("{}://{}:{}", server.scheme(), server.host(), server.port())
}

/// One established connection.
struct Conn {
    stream: TcpStream,
    read: BytesMut,
    /// Our PINGs and PONGs not yet written.
    write: BytesMut,
    /// The largest message the server accepts (headers and payload): a larger one is
    /// corruption.
    max_payload: usize,
    /// When to ping a quiet server, or when an unanswered ping means a stalled link.
    ping_due: Instant,
    ping_outstanding: bool,
}

impl Conn {
    /// Connects, identifies, subscribes and waits for the server to confirm (a PONG after the
    /// SUB proves the subscription registered). Messages that arrive before the PONG stay in
    /// the buffer.
    async fn open(server: &ServerAddr, subject: &str) -> Result<Conn, LinkError> {
        if server.tls_required() || server.is_websocket() {
            return Err(LinkError::NeedsTls);
        }
        let stream = TcpStream::connect((server.host(), server.port())).await?;
        stream.set_nodelay(true)?;
        let mut conn = Conn {
            stream,
            read: BytesMut::with_capacity(READ_CHUNK),
            write: BytesMut::new(),
            max_payload: 0,
            ping_due: Instant::now() + PING_INTERVAL,
            ping_outstanding: false,
        };
        let info = loop {
            match wire::parse(&conn.read)? {
                Some((ServerOp::Info(json), used)) => {
                    let info: Info = serde_json::from_slice(json)
                        .map_err(|_| WireError("INFO is not the expected JSON"))?;
                    conn.read.advance(used);
                    break info;
                }
                Some(_) => return Err(WireError("the server did not start with INFO").into()),
                None => conn.fill().await?,
            }
        };
        if info.tls_required {
            return Err(LinkError::NeedsTls);
        }
        if !info.headers {
            return Err(LinkError::Server("headers are not supported".into()));
        }
        // nats-server's default when it does not say.
        conn.max_payload = if info.max_payload == 0 {
            1024 * 1024
        } else {
            info.max_payload
        };
        conn.write.extend_from_slice(&connect_line(server, subject));
        conn.flush().await?;
        // Skip over messages (they stay), take everything else out, until the PONG.
        let mut at = 0;
        loop {
            match wire::parse(&conn.read[at..])? {
                Some((ServerOp::Message(_), used)) => at += used,
                Some((ServerOp::Pong, used)) => {
                    cut(&mut conn.read, at, used);
                    return Ok(conn);
                }
                Some((ServerOp::Err(text), _)) => return Err(LinkError::Server(text.to_owned())),
                Some((ServerOp::Ping, used)) => {
                    cut(&mut conn.read, at, used);
                    conn.write.extend_from_slice(b"PONG\r\n");
                    conn.flush().await?;
                }
                Some((ServerOp::Info(_) | ServerOp::Ok, used)) => cut(&mut conn.read, at, used),
                None => conn.fill().await?,
            }
        }
    }

    /// Reads until a whole message is at the front of the buffer: where it is, and its length.
    /// Pings are answered, everything else that is not a message is dropped on the way.
    async fn until_message(&mut self) -> Result<(MessageAt, usize), LinkError> {
        loop {
            match wire::parse(&self.read)? {
                Some((ServerOp::Message(found), used)) => return Ok((found, used)),
                Some((op, used)) => {
                    match op {
                        ServerOp::Ping => self.write.extend_from_slice(b"PONG\r\n"),
                        ServerOp::Err(text) => return Err(LinkError::Server(text.to_owned())),
                        ServerOp::Pong | ServerOp::Info(_) | ServerOp::Ok => {}
                        ServerOp::Message(_) => unreachable!("matched above"),
                    }
                    self.read.advance(used);
                }
                None => {
                    // Only the operation being read is buffered: more than the server may send
                    // in one is a corrupt size, which must not grow the buffer without end.
                    if self.read.len() > self.max_payload + wire::MAX_CONTROL_LINE + 2 {
                        return Err(LinkError::Oversized(self.read.len()));
                    }
                    if !self.write.is_empty() {
                        self.flush().await?;
                    }
                    self.fill_or_ping().await?;
                }
            }
        }
    }

    /// Reads more, pinging a quiet server: a second quiet interval with the ping unanswered
    /// is a stalled link. A read that is ready always wins over the timer, so a feed that was
    /// busy elsewhere for a while finds its buffered data rather than a false stall.
    async fn fill_or_ping(&mut self) -> Result<(), LinkError> {
        loop {
            self.reserve();
            tokio::select! {
                biased;
                read = self.stream.read_buf(&mut self.read) => {
                    if read? == 0 {
                        return Err(LinkError::Closed);
                    }
                    self.heard();
                    return Ok(());
                }
                () = tokio::time::sleep_until(self.ping_due) => {
                    if self.ping_outstanding {
                        return Err(LinkError::Stalled);
                    }
                    self.ping_outstanding = true;
                    self.ping_due = Instant::now() + PING_INTERVAL;
                    self.write.extend_from_slice(b"PING\r\n");
                    self.flush().await?;
                }
            }
        }
    }

    /// Reads more during the handshake (bounded by the caller's timeout).
    async fn fill(&mut self) -> Result<(), LinkError> {
        self.reserve();
        if self.stream.read_buf(&mut self.read).await? == 0 {
            return Err(LinkError::Closed);
        }
        Ok(())
    }

    fn reserve(&mut self) {
        if self.read.capacity() - self.read.len() < READ_CHUNK / 4 {
            self.read.reserve(READ_CHUNK);
        }
    }

    fn heard(&mut self) {
        self.reserve();
        self.ping_outstanding = false;
        self.ping_due = Instant::now() + PING_INTERVAL;
    }

    /// Writes what is pending. Cancel-safe: written bytes leave the buffer as they go.
    async fn flush(&mut self) -> Result<(), LinkError> {
        while !self.write.is_empty() {
            self.stream.write_buf(&mut self.write).await?;
        }
        Ok(())
    }
}

/// `CONNECT`, `SUB` and the `PING` whose answer confirms both.
fn connect_line(server: &ServerAddr, subject: &str) -> Vec<u8> {
    let (user, pass, auth_token) = match url_credentials(server.as_url_str()) {
        Some(UrlCredentials::UserPassword(user, pass)) => (Some(user), Some(pass), None),
        Some(UrlCredentials::Token(token)) => (None, None, Some(token)),
        None => (None, None, None),
    };
    let options = serde_json::json!({
        "verbose": false,
        "pedantic": false,
        "lang": "rust",
        "version": env!("CARGO_PKG_VERSION"),
        "name": CONNECTION_NAME,
        "protocol": 1,
        "headers": true,
        "no_responders": false,
        "echo": false,
        "user": user,
        "pass": pass,
        "auth_token": auth_token,
    });
    format!("CONNECT {options}\r\nSUB {subject} 1\r\nPING\r\n").into_bytes()
}

/// Removes `len` bytes at `at` from `buf` (a control operation found behind messages that
/// must stay; only during the handshake).
fn cut(buf: &mut BytesMut, at: usize, len: usize) {
    let tail = buf[at + len..].to_vec();
    buf.truncate(at);
    buf.extend_from_slice(&tail);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_from_the_url_go_into_connect_as_the_general_client_sends_them() {
        let line =
            |url: &str| String::from_utf8(connect_line(&url.parse().unwrap(), "live.>")).unwrap();
        let with_user = line("nats://alice:s3cret@127.0.0.1:4222");
        assert!(with_user.contains(r#""user":"alice""#), "{with_user}");
        assert!(with_user.contains(r#""pass":"s3cret""#));
        assert!(with_user.ends_with("\r\nSUB live.> 1\r\nPING\r\n"));
        let with_token = line("nats://t0ken@127.0.0.1:4222");
        assert!(
            with_token.contains(r#""auth_token":"t0ken""#),
            "{with_token}"
        );
        assert!(with_token.contains(r#""user":null"#));
        let bare = line("nats://127.0.0.1:4222");
        assert!(bare.contains(r#""headers":true"#) && bare.contains(r#""auth_token":null"#));
    }

    #[test]
    fn logged_addresses_carry_no_credentials() {
        let server: ServerAddr = "nats://alice:s3cret@10.0.0.1:4333".parse().unwrap();
        assert_eq!(redacted(&server), "nats://10.0.0.1:4333");
    }

    #[test]
    fn cut_removes_an_operation_between_messages() {
        let mut buf = BytesMut::from(&b"MSG a 1 1\r\nx\r\nPONG\r\nMSG b 1 0\r\n\r\n"[..]);
        cut(&mut buf, 14, 6);
        assert_eq!(&buf[..], b"MSG a 1 1\r\nx\r\nMSG b 1 0\r\n\r\n");
    }
}
