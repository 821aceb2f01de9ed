//! Client-side networking shared by every benchmark client: connections spread over the source
//! addresses 127.0.0.2, 127.0.0.3, … (each has its own ephemeral port range, so tens of
//! thousands of loopback connections do not run out of ports), and the abrupt close that the
//! reconnect storm starts with.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use tokio::net::{TcpSocket, TcpStream};

use crate::error::Error;

/// The source addresses 127.0.0.2 .. 127.0.0.(1+k) (all of 127/8 is loopback on Linux).
pub fn source_addrs(k: u8) -> Vec<IpAddr> {
    (0..k.clamp(1, 253))
        .map(|i| IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2 + i)))
        .collect()
}

/// Opens a TCP connection to `to` from `source` (any port).
pub async fn connect_from(source: IpAddr, to: SocketAddr) -> std::io::Result<TcpStream> {
    let socket = TcpSocket::new_v4()?;
    socket.bind(SocketAddr::new(source, 0))?;
    let stream = socket.connect(to).await?;
    // Requests and answers are small and latency is what is measured.
    stream.set_nodelay(true)?;
    Ok(stream)
}

/// One HTTP client per source address, for the gateway's negotiate requests.
pub fn http_clients(sources: &[IpAddr]) -> Result<Vec<reqwest::Client>, Error> {
    sources
        .iter()
        .map(|s| {
            orderflow_runtime::http::client_builder()
                .local_address(*s)
                // Few idle negotiate connections: each also costs the gateway a descriptor.
                .pool_max_idle_per_host(2)
                .build()
                .map_err(|e| Error::Gateway(format!("http client: {e}")))
        })
        .collect()
}

/// Makes the next close of `stream` a reset (RST) instead of an orderly FIN: a crashed network
/// path or process looks like this to the server, and the client side keeps no `TIME_WAIT`
/// entry, whose port would otherwise stay blocked for a minute across rounds.
pub fn reset_on_close(stream: &TcpStream) {
    // Zero linger never blocks the closing thread (unlike a positive linger).
    let _ = stream.set_zero_linger();
}
