//! A TCP proxy on a loopback port that a test can partition: put it between a service and its
//! peer (e.g. a gateway and nats-server) and the service's link can be paused or cut while both
//! processes keep running.
//!
//! * [`TcpProxy::pause`] stops moving bytes in both directions, and stops connecting new
//!   clients upstream, without closing anything: like a partition in which packets are lost and
//!   TCP retransmits them later. Bytes already read are held and delivered after
//!   [`TcpProxy::resume`]; kernel buffers fill and TCP flow control pushes back on the senders.
//! * [`TcpProxy::cut`] resets (RST) every current connection and resets new ones on accept until
//!   [`TcpProxy::restore`]: like a firewall rejecting the peer.
//!
//! ```no_run
//! # async fn demo() -> std::io::Result<()> {
//! let nats = orderflow_test_support::NatsServer::start().await;
//! let proxy = orderflow_test_support::proxy::TcpProxy::start(([127, 0, 0, 1], nats.port()).into()).await?;
//! let url = proxy.nats_url(); // give this to the service instead of nats.url()
//! proxy.pause();
//! proxy.resume();
//! # let _ = url; Ok(())
//! # }
//! ```

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// What the link does right now; every connection task watches it.
#[derive(Clone, Copy, Debug, Default)]
struct Link {
    paused: bool,
    /// New connections are reset while set.
    cut: bool,
    /// Bumped by every cut: a connection opened under an older generation must close.
    generation: u64,
    /// The proxy was dropped.
    closed: bool,
}

impl Link {
    /// Whether a connection opened under `generation` must end now.
    fn ends(&self, generation: u64) -> bool {
        self.closed || self.generation != generation
    }
}

/// A running proxy from a loopback port to `target`. Dropping it resets every connection.
pub struct TcpProxy {
    addr: SocketAddr,
    target: SocketAddr,
    link: watch::Sender<Link>,
    live: Arc<AtomicUsize>,
    accept: JoinHandle<()>,
}

impl TcpProxy {
    /// Listens on a free loopback port and forwards every connection to `target`. Must be
    /// called inside a Tokio runtime, which then runs the proxy's tasks.
    pub async fn start(target: SocketAddr) -> io::Result<TcpProxy> {
        let listener = bind_free_port().await?;
        let addr = listener.local_addr()?;
        let (link, _) = watch::channel(Link::default());
        let live = Arc::new(AtomicUsize::new(0));
        let accept = tokio::spawn(accept_loop(listener, target, link.clone(), live.clone()));
        Ok(TcpProxy {
            addr,
            target,
            link,
            live,
            accept,
        })
    }

    /// Where clients connect.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The listening port.
    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// Where connections are forwarded.
    pub fn target(&self) -> SocketAddr {
        self.target
    }

    /// `nats://127.0.0.1:<port>`, for a proxy in front of nats-server.
    pub fn nats_url(&self) -> String {
        format!("nats://{}", self.addr)
    }

    /// Holds every byte in both directions (and new connections' upstream connects) until
    /// [`Self::resume`]. Nothing is closed.
    pub fn pause(&self) {
        self.link.send_modify(|l| l.paused = true);
    }

    /// Lets held and new bytes flow again.
    pub fn resume(&self) {
        self.link.send_modify(|l| l.paused = false);
    }

    /// Resets every current connection and every new one until [`Self::restore`].
    pub fn cut(&self) {
        self.link.send_modify(|l| {
            l.cut = true;
            l.generation += 1;
        });
    }

    /// Accepts and forwards new connections again after [`Self::cut`].
    pub fn restore(&self) {
        self.link.send_modify(|l| l.cut = false);
    }

    /// Connections currently forwarded (connected upstream and not yet closed).
    pub fn connections(&self) -> usize {
        self.live.load(Ordering::SeqCst)
    }
}

impl Drop for TcpProxy {
    fn drop(&mut self) {
        self.accept.abort();
        self.link.send_modify(|l| l.closed = true);
    }
}

/// Binds a port from [`crate::free_port`], so it never collides with ports this process handed
/// to servers that have not bound theirs yet; retried in case another process took it.
async fn bind_free_port() -> io::Result<TcpListener> {
    let mut last = None;
    for _ in 0..5 {
        match TcpListener::bind(("127.0.0.1", crate::free_port())).await {
            Ok(listener) => return Ok(listener),
            Err(e) => last = Some(e),
        }
    }
    Err(last.unwrap_or_else(|| io::Error::other("no free port")))
}

async fn accept_loop(
    listener: TcpListener,
    target: SocketAddr,
    link: watch::Sender<Link>,
    live: Arc<AtomicUsize>,
) {
    loop {
        let Ok((client, _)) = listener.accept().await else {
            // Out of file descriptors and the like: wait instead of spinning.
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
            continue;
        };
        let now = *link.borrow();
        if now.cut {
            reset(&client);
            continue;
        }
        tokio::spawn(forward(
            client,
            target,
            link.subscribe(),
            now.generation,
            live.clone(),
        ));
    }
}

/// Closes with RST instead of FIN, as a rejecting firewall or a dead peer's kernel would.
fn reset(stream: &TcpStream) {
    let _ = stream.set_zero_linger();
}

/// Decrements the live-connection count however the connection ends.
struct LiveGuard(Arc<AtomicUsize>);

impl Drop for LiveGuard {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

async fn forward(
    client: TcpStream,
    target: SocketAddr,
    mut link: watch::Receiver<Link>,
    generation: u64,
    live: Arc<AtomicUsize>,
) {
    // A partition also holds the upstream handshake.
    if !wait_open(&mut link, generation).await {
        return reset(&client);
    }
    let Ok(upstream) = TcpStream::connect(target).await else {
        return reset(&client);
    };
    live.fetch_add(1, Ordering::SeqCst);
    let _guard = LiveGuard(live);
    let _ = client.set_nodelay(true);
    let _ = upstream.set_nodelay(true);
    let (client_read, client_write) = client.into_split();
    let (upstream_read, upstream_write) = upstream.into_split();
    tokio::join!(
        pump(client_read, upstream_write, link.clone(), generation),
        pump(upstream_read, client_write, link, generation),
    );
}

/// Waits until the link is not paused; false when this connection must end instead.
async fn wait_open(link: &mut watch::Receiver<Link>, generation: u64) -> bool {
    match link
        .wait_for(|l| l.ends(generation) || !l.paused)
        .await
        .map(|l| l.ends(generation))
    {
        Ok(ends) => !ends,
        // The proxy is gone.
        Err(_) => false,
    }
}

/// Copies one direction until end of stream, an error, or a cut (which resets both sockets).
async fn pump(
    mut from: OwnedReadHalf,
    mut to: OwnedWriteHalf,
    mut link: watch::Receiver<Link>,
    generation: u64,
) {
    let mut buf = vec![0u8; 32 * 1024];
    loop {
        if !wait_open(&mut link, generation).await {
            break;
        }
        let n = tokio::select! {
            read = from.read(&mut buf) => match read {
                Ok(0) | Err(_) => {
                    // Pass the end on, so the other side closes too.
                    let _ = to.shutdown().await;
                    return;
                }
                Ok(n) => n,
            },
            // Paused or cut while waiting for bytes: decide again (reads are cancel safe).
            _ = link.changed() => continue,
        };
        // Bytes read just before a pause are held like the rest.
        if !wait_open(&mut link, generation).await {
            break;
        }
        let ended = tokio::select! {
            written = to.write_all(&buf[..n]) => written.is_err(),
            _ = link.wait_for(|l| l.ends(generation)) => true,
        };
        if ended {
            break;
        }
    }
    // Cut, proxy dropped, or the write failed: reset both sockets (this task holds a half of
    // each; the socket closes with RST once the other task drops its half too).
    reset(from.as_ref());
    reset(to.as_ref());
}
