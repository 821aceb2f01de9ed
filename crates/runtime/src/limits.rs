//! Limits that keep a service on the air when clients are hostile: the HTTP deadlines and
//! connection caps every service shares ([`HttpLimits`], read from `ORDERFLOW_HTTP_*` and
//! `ORDERFLOW_MAX_*`), the descriptor budget they are derived from (`RLIMIT_NOFILE`), the
//! admission of new connections ([`Gate`]), the client address behind a trusted proxy
//! ([`client_ip`]) and a per-address rate ([`SourceRate`]).
//!
//! Before a connection has authenticated, it costs the server a descriptor and memory and the
//! client nothing. The caps here bound what unauthenticated clients can hold, so that an
//! attacker without credentials can slow the service down at worst, not switch it off. See
//! docs/hostile-clients.md.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use http::HeaderMap;
use tokio::time::Instant;

/// Parses `30s`, `500ms`, `5m`, `1h`, `1d` (a bare number is seconds).
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let value: u64 = number
        .parse()
        .map_err(|_| format!("{text:?} is not a duration like 30s, 5m or 1h"))?;
    let seconds_per_unit = match unit.trim() {
        "ms" => return Ok(Duration::from_millis(value)),
        "" | "s" => 1,
        "m" => 60,
        "h" => 3_600,
        "d" => 86_400,
        other => {
            return Err(format!(
                "unknown duration unit {other:?}; use ms, s, m, h or d"
            ));
        }
    };
    value
        .checked_mul(seconds_per_unit)
        .map(Duration::from_secs)
        .ok_or_else(|| format!("{text:?} is too long"))
}

/// An address or a CIDR block (`10.0.0.0/8`, `fd00::/8`, `192.0.2.7`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IpBlock {
    network: IpAddr,
    prefix: u8,
}

impl IpBlock {
    /// Whether `ip` is inside the block (an IPv4-mapped IPv6 peer matches IPv4 blocks).
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = canonical(ip);
        match (self.network, ip) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                u32::from(net) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                u128::from(net) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
    }
}

impl std::str::FromStr for IpBlock {
    type Err = String;
    fn from_str(text: &str) -> Result<Self, String> {
        let text = text.trim();
        let (addr, prefix) = match text.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (text, None),
        };
        let network: IpAddr = addr
            .parse()
            .map_err(|_| format!("{text:?} is not an IP address or CIDR block"))?;
        let max = if network.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => max,
            Some(p) => p
                .parse::<u8>()
                .ok()
                .filter(|p| *p <= max)
                .ok_or_else(|| format!("{text:?} has an invalid prefix length"))?,
        };
        Ok(IpBlock {
            network: canonical(network),
            prefix,
        })
    }
}

fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

/// The HTTP deadlines and connection caps of a service. Every field has an environment variable
/// shared by all services; the defaults are in docs/operations.md with their reasons.
#[derive(Debug, Clone, clap::Args)]
pub struct HttpLimits {
    /// Time a client has to send a request's complete headers, from the connection's accept or
    /// from the first byte of a later request on it. Shorter than any reverse proxy's, which
    /// sends headers at once.
    #[arg(long = "http-header-timeout", env = "ORDERFLOW_HTTP_HEADER_TIMEOUT", default_value = "10s", value_parser = parse_duration)]
    pub header_timeout: Duration,
    /// Time a client has to send a request's whole body, from the end of its headers.
    #[arg(long = "http-body-timeout", env = "ORDERFLOW_HTTP_BODY_TIMEOUT", default_value = "30s", value_parser = parse_duration)]
    pub body_timeout: Duration,
    /// An authenticated keep-alive connection idle this long is closed. Longer than the idle
    /// timeouts of the usual proxies in front (60 s), so that the proxy, not the service, closes
    /// first and never reuses a connection the service is closing. An unauthenticated one gets
    /// the header timeout instead.
    #[arg(long = "http-idle-timeout", env = "ORDERFLOW_HTTP_IDLE_TIMEOUT", default_value = "75s", value_parser = parse_duration)]
    pub idle_timeout: Duration,
    /// Most open client connections; 0: derived from `RLIMIT_NOFILE` (see [`Caps`]).
    #[arg(
        long = "max-connections",
        env = "ORDERFLOW_MAX_CONNECTIONS",
        default_value_t = 0
    )]
    pub max_connections: usize,
    /// Most connections that have not authenticated yet; 0: a quarter of the connection cap.
    #[arg(
        long = "max-unauthenticated",
        env = "ORDERFLOW_MAX_UNAUTHENTICATED",
        default_value_t = 0
    )]
    pub max_unauthenticated: usize,
    /// Most connections one client address holds before authenticating. A proxy in
    /// `ORDERFLOW_TRUSTED_PROXIES` is exempt (it carries many clients and has its own limits).
    #[arg(
        long = "max-unauthenticated-per-source",
        env = "ORDERFLOW_MAX_UNAUTHENTICATED_PER_SOURCE",
        default_value_t = 64
    )]
    pub max_unauthenticated_per_source: usize,
    /// Reverse proxies (addresses or CIDR blocks, comma separated) whose `Forwarded` /
    /// `X-Forwarded-For` names the client. Any other peer is the client itself.
    #[arg(
        long = "trusted-proxies",
        env = "ORDERFLOW_TRUSTED_PROXIES",
        value_delimiter = ',',
        num_args = 0..
    )]
    pub trusted_proxies: Vec<IpBlock>,
}

impl Default for HttpLimits {
    fn default() -> Self {
        HttpLimits {
            header_timeout: Duration::from_secs(10),
            body_timeout: Duration::from_secs(30),
            idle_timeout: Duration::from_secs(75),
            max_connections: 0,
            max_unauthenticated: 0,
            max_unauthenticated_per_source: 64,
            trusted_proxies: Vec::new(),
        }
    }
}

impl HttpLimits {
    /// Whether `ip` is a configured trusted proxy.
    pub fn is_trusted_proxy(&self, ip: IpAddr) -> bool {
        self.trusted_proxies.iter().any(|b| b.contains(ip))
    }
}

/// Raises the soft `RLIMIT_NOFILE` to the hard limit and returns the soft limit now in force.
/// The soft default (often 1024) is far below what a connection server needs; the hard limit
/// is what the operator (`LimitNOFILE`, the container's ulimit) granted.
pub fn raise_nofile_limit() -> u64 {
    use rustix::process::{Resource, getrlimit, setrlimit};
    let limit = getrlimit(Resource::Nofile);
    if let (Some(current), maximum) = (limit.current, limit.maximum)
        && maximum.is_none_or(|m| m > current)
    {
        // Unlimited hard limits do not exist for descriptors on Linux, but be careful anyway:
        // a million is more than any caps here would use.
        let target = maximum.unwrap_or(1 << 20).min(1 << 20);
        let raised = rustix::process::Rlimit {
            current: Some(target),
            maximum,
        };
        if let Err(error) = setrlimit(Resource::Nofile, raised) {
            tracing::warn!(%error, current, "cannot raise RLIMIT_NOFILE to its hard limit");
        }
    }
    nofile_limit()
}

/// The soft `RLIMIT_NOFILE` in force.
pub fn nofile_limit() -> u64 {
    rustix::process::getrlimit(rustix::process::Resource::Nofile)
        .current
        .unwrap_or(1 << 20)
}

/// The caps a running server enforces, resolved once at start from [`HttpLimits`] and the
/// descriptor limit.
///
/// The descriptor budget is split three ways: `reserve` for everything that is not a client
/// (database pool, NATS, log files, the process's own: a tenth of the limit, 64 to 4096),
/// `probe_headroom` for connections admitted past the caps that may only reach `/healthz`,
/// `/readyz` and `/metrics` (so probes answer while the caps are full), and the rest for clients.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Caps {
    /// Most open client connections (authenticated or not).
    pub connections: usize,
    /// Most connections not authenticated yet.
    pub unauthenticated: usize,
    /// Most unauthenticated connections per client address.
    pub per_source: usize,
    /// Connections past the caps that may still reach the probe routes.
    pub probe_headroom: usize,
}

/// Connections admitted past the caps for probes only.
const PROBE_HEADROOM: usize = 32;

impl Caps {
    /// The caps for a process whose descriptor limit is `nofile`.
    pub fn resolve(limits: &HttpLimits, nofile: u64) -> Caps {
        let nofile = usize::try_from(nofile).unwrap_or(usize::MAX);
        let reserve = (nofile / 10).clamp(64, 4096);
        let derived = nofile
            .saturating_sub(reserve + PROBE_HEADROOM)
            .max(PROBE_HEADROOM);
        let connections = if limits.max_connections == 0 {
            derived
        } else {
            limits.max_connections
        };
        let unauthenticated = if limits.max_unauthenticated == 0 {
            (connections / 4).max(1)
        } else {
            limits.max_unauthenticated.min(connections)
        };
        Caps {
            connections,
            unauthenticated,
            per_source: limits.max_unauthenticated_per_source.max(1),
            probe_headroom: PROBE_HEADROOM,
        }
    }
}

/// Which cap turned a connection away (the `cap` label of
/// `http_connections_refused_total`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cap {
    /// All connections.
    Connections,
    /// Unauthenticated connections.
    Unauthenticated,
    /// Unauthenticated connections of one address.
    PerSource,
}

impl Cap {
    /// The metric label.
    pub fn label(self) -> &'static str {
        match self {
            Cap::Connections => "connections",
            Cap::Unauthenticated => "unauthenticated",
            Cap::PerSource => "per_source",
        }
    }
}

/// How a new connection was admitted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    /// A normal connection, unauthenticated until a request on it authenticates; counted for
    /// `source` unless that is `None` (a trusted proxy).
    Normal {
        /// The address counted against the per-source cap.
        source: Option<IpAddr>,
    },
    /// Past `cap`, within the probe headroom: answers the probe routes, 503 to anything else.
    ProbesOnly(Cap),
    /// Past every cap: closed at once.
    Refused(Cap),
}

/// Counts connections and admits or refuses new ones. Cheap: atomics, and one short lock on
/// the per-source table.
#[derive(Debug)]
pub struct Gate {
    caps: Caps,
    open: AtomicUsize,
    unauthenticated: AtomicUsize,
    probes: AtomicUsize,
    per_source: Mutex<HashMap<IpAddr, usize>>,
}

impl Gate {
    /// A gate enforcing `caps`.
    pub fn new(caps: Caps) -> Gate {
        Gate {
            caps,
            open: AtomicUsize::new(0),
            unauthenticated: AtomicUsize::new(0),
            probes: AtomicUsize::new(0),
            per_source: Mutex::new(HashMap::new()),
        }
    }

    /// The caps in force.
    pub fn caps(&self) -> Caps {
        self.caps
    }

    /// Open connections (normal ones; probe-only ones are not counted).
    pub fn open(&self) -> usize {
        self.open.load(Ordering::Relaxed)
    }

    /// Open connections that have not authenticated.
    pub fn unauthenticated(&self) -> usize {
        self.unauthenticated.load(Ordering::Relaxed)
    }

    /// Decides about a connection from `peer`; `trusted_peer` exempts it from the per-source
    /// cap. When the unauthenticated cap is full, `evict` may free a slot by closing an older
    /// unauthenticated connection (it calls [`Gate::authenticated`] for it and returns `true`).
    /// Every admission must be ended with [`Gate::release`].
    pub fn admit(
        &self,
        peer: IpAddr,
        trusted_peer: bool,
        evict: impl FnOnce() -> bool,
    ) -> Admission {
        let source = (!trusted_peer).then_some(canonical(peer));
        let refused = if let Some(ip) = source
            && self.lock().get(&ip).copied().unwrap_or(0) >= self.caps.per_source
        {
            // One address over its share is not worth a probe slot: close it.
            return Admission::Refused(Cap::PerSource);
        } else if self.open.load(Ordering::Relaxed) >= self.caps.connections {
            Cap::Connections
        } else if self.unauthenticated.load(Ordering::Relaxed) >= self.caps.unauthenticated
            && !evict()
        {
            Cap::Unauthenticated
        } else {
            // Racing admissions may overshoot a cap by the number of accept loops (one).
            self.open.fetch_add(1, Ordering::Relaxed);
            self.unauthenticated.fetch_add(1, Ordering::Relaxed);
            if let Some(ip) = source {
                *self.lock().entry(ip).or_insert(0) += 1;
            }
            return Admission::Normal { source };
        };
        if self.probes.fetch_add(1, Ordering::Relaxed) < self.caps.probe_headroom {
            Admission::ProbesOnly(refused)
        } else {
            self.probes.fetch_sub(1, Ordering::Relaxed);
            Admission::Refused(refused)
        }
    }

    /// Unauthenticated connections `ip` holds.
    pub fn held_by(&self, ip: IpAddr) -> usize {
        self.lock().get(&ip).copied().unwrap_or(0)
    }

    /// A normal connection authenticated: it no longer counts as unauthenticated.
    pub fn authenticated(&self, source: Option<IpAddr>) {
        self.unauthenticated.fetch_sub(1, Ordering::Relaxed);
        if let Some(ip) = source {
            self.forget(ip);
        }
    }

    /// A connection admitted as `admission` closed; `authenticated` if it had.
    pub fn release(&self, admission: Admission, authenticated: bool) {
        match admission {
            Admission::Normal { source } => {
                self.open.fetch_sub(1, Ordering::Relaxed);
                if !authenticated {
                    self.unauthenticated.fetch_sub(1, Ordering::Relaxed);
                    if let Some(ip) = source {
                        self.forget(ip);
                    }
                }
            }
            Admission::ProbesOnly(_) => {
                self.probes.fetch_sub(1, Ordering::Relaxed);
            }
            Admission::Refused(_) => {}
        }
    }

    fn forget(&self, ip: IpAddr) {
        let mut table = self.lock();
        if let Some(n) = table.get_mut(&ip) {
            *n -= 1;
            if *n == 0 {
                table.remove(&ip);
            }
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<IpAddr, usize>> {
        self.per_source.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The client's address: the peer itself, or, when the peer is a trusted proxy, the last
/// address in `Forwarded` (`for=`) or else `X-Forwarded-For` that is not itself a trusted proxy.
/// Addresses appended by an untrusted hop can be forged, so the walk starts at the right.
pub fn client_ip(peer: SocketAddr, headers: &HeaderMap, limits: &HttpLimits) -> IpAddr {
    let peer_ip = canonical(peer.ip());
    if !limits.is_trusted_proxy(peer_ip) {
        return peer_ip;
    }
    let forwarded: Vec<IpAddr> = headers
        .get_all(http::header::FORWARDED)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|element| {
            element.split(';').find_map(|pair| {
                let (name, value) = pair.trim().split_once('=')?;
                name.eq_ignore_ascii_case("for")
                    .then(|| parse_forwarded_node(value))
                    .flatten()
            })
        })
        .collect();
    let chain = if forwarded.is_empty() {
        headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .filter_map(|a| parse_forwarded_node(a.trim()))
            .collect()
    } else {
        forwarded
    };
    chain
        .into_iter()
        .rev()
        .find(|ip| !limits.is_trusted_proxy(*ip))
        .unwrap_or(peer_ip)
}

/// `192.0.2.1`, `"[2001:db8::1]:443"`, `192.0.2.1:80` → the address.
fn parse_forwarded_node(value: &str) -> Option<IpAddr> {
    let value = value.trim().trim_matches('"');
    if let Ok(ip) = value.parse::<IpAddr>() {
        return Some(canonical(ip));
    }
    if let Ok(addr) = value.parse::<SocketAddr>() {
        return Some(canonical(addr.ip()));
    }
    let inner = value.strip_prefix('[')?.split(']').next()?;
    inner.parse::<IpAddr>().ok().map(canonical)
}

/// A token bucket per client address: `rate` per second, bursts of `burst`. The table forgets
/// addresses whose bucket is full again, so it holds only the recently active ones.
#[derive(Debug)]
pub struct SourceRate {
    rate: f64,
    burst: f64,
    buckets: Mutex<HashMap<IpAddr, (f64, Instant)>>,
}

/// Addresses kept before idle ones are swept.
const SWEEP_AT: usize = 4096;

impl SourceRate {
    /// `rate` per second and address, with bursts of `burst`.
    pub fn new(rate: f64, burst: f64) -> SourceRate {
        SourceRate {
            rate,
            burst: burst.max(1.0),
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Takes one token for `ip`; `false` when it has none left.
    pub fn allow(&self, ip: IpAddr) -> bool {
        let now = Instant::now();
        let mut buckets = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        if buckets.len() >= SWEEP_AT {
            let (rate, burst) = (self.rate, self.burst);
            buckets.retain(|_, (tokens, at)| {
                *tokens + now.duration_since(*at).as_secs_f64() * rate < burst
            });
        }
        let (tokens, at) = buckets.entry(ip).or_insert((self.burst, now));
        *tokens = (*tokens + now.duration_since(*at).as_secs_f64() * self.rate).min(self.burst);
        *at = now;
        if *tokens >= 1.0 {
            *tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use std::net::{IpAddr, SocketAddr};

    use http::HeaderMap;

    use super::*;

    fn limits(trusted: &[&str]) -> HttpLimits {
        HttpLimits {
            trusted_proxies: trusted.iter().map(|t| t.parse().unwrap()).collect(),
            ..HttpLimits::default()
        }
    }

    #[test]
    fn blocks_match_their_addresses() {
        let block: IpBlock = "10.1.0.0/16".parse().unwrap();
        assert!(block.contains("10.1.200.3".parse().unwrap()));
        assert!(!block.contains("10.2.0.1".parse().unwrap()));
        assert!(block.contains("::ffff:10.1.0.9".parse().unwrap()));
        let one: IpBlock = "fd00::1".parse().unwrap();
        assert!(one.contains("fd00::1".parse().unwrap()));
        assert!(!one.contains("fd00::2".parse().unwrap()));
        assert!(
            "0.0.0.0/0"
                .parse::<IpBlock>()
                .unwrap()
                .contains("1.2.3.4".parse().unwrap())
        );
        assert!("10.0.0.0/33".parse::<IpBlock>().is_err());
    }

    #[test]
    fn forwarded_addresses_count_only_behind_a_trusted_proxy() {
        let mut headers = HeaderMap::new();
        headers.insert(
            "x-forwarded-for",
            "203.0.113.9, 198.51.100.7".parse().unwrap(),
        );
        let peer: SocketAddr = "10.0.0.5:4000".parse().unwrap();
        let untrusted = client_ip(peer, &headers, &limits(&[]));
        assert_eq!(untrusted, "10.0.0.5".parse::<IpAddr>().unwrap());
        let trusted = client_ip(peer, &headers, &limits(&["10.0.0.0/8"]));
        assert_eq!(
            trusted,
            "198.51.100.7".parse::<IpAddr>().unwrap(),
            "rightmost untrusted"
        );
        let chain = client_ip(peer, &headers, &limits(&["10.0.0.0/8", "198.51.100.7"]));
        assert_eq!(chain, "203.0.113.9".parse::<IpAddr>().unwrap());
        headers.insert(
            http::header::FORWARDED,
            r#"for="[2001:db8::1]:443";proto=https"#.parse().unwrap(),
        );
        let forwarded = client_ip(peer, &headers, &limits(&["10.0.0.0/8"]));
        assert_eq!(
            forwarded,
            "2001:db8::1".parse::<IpAddr>().unwrap(),
            "Forwarded first"
        );
    }

    #[test]
    fn caps_leave_room_for_other_descriptors_and_probes() {
        let caps = Caps::resolve(&HttpLimits::default(), 512);
        assert_eq!(caps.connections, 512 - 64 - PROBE_HEADROOM);
        assert_eq!(caps.unauthenticated, caps.connections / 4);
        let caps = Caps::resolve(&HttpLimits::default(), 20_000);
        assert_eq!(caps.connections, 20_000 - 2_000 - PROBE_HEADROOM);
    }

    #[test]
    fn the_gate_refuses_past_each_cap_and_gives_slots_back() {
        let gate = Gate::new(Caps {
            connections: 4,
            unauthenticated: 3,
            per_source: 2,
            probe_headroom: 1,
        });
        let a: IpAddr = "192.0.2.1".parse().unwrap();
        let b: IpAddr = "192.0.2.2".parse().unwrap();
        let first = gate.admit(a, false, || false);
        assert_eq!(first, Admission::Normal { source: Some(a) });
        assert!(matches!(
            gate.admit(a, false, || false),
            Admission::Normal { .. }
        ));
        assert_eq!(
            gate.admit(a, false, || false),
            Admission::Refused(Cap::PerSource)
        );
        assert!(matches!(
            gate.admit(b, false, || false),
            Admission::Normal { .. }
        ));
        let probe = gate.admit(b, false, || false);
        assert_eq!(probe, Admission::ProbesOnly(Cap::Unauthenticated));
        assert_eq!(
            gate.admit(b, true, || false),
            Admission::Refused(Cap::Unauthenticated)
        );
        gate.release(probe, false);
        // Authenticating frees the unauthenticated and per-source slots, not the connection.
        gate.authenticated(Some(a));
        assert!(matches!(
            gate.admit(a, false, || false),
            Admission::Normal { .. }
        ));
        assert_eq!(
            gate.admit(b, true, || false),
            Admission::ProbesOnly(Cap::Connections)
        );
        gate.release(first, true);
        assert_eq!(gate.open(), 3);
        assert_eq!(gate.unauthenticated(), 3);
        // Full of unauthenticated connections: an eviction makes room for the newcomer.
        let c: IpAddr = "192.0.2.3".parse().unwrap();
        gate.release(gate.admit(c, true, || false), false);
        let admitted = gate.admit(c, true, || {
            gate.authenticated(None);
            true
        });
        assert_eq!(admitted, Admission::Normal { source: None });
    }

    #[tokio::test(start_paused = true)]
    async fn source_rate_refills() {
        let rate = SourceRate::new(2.0, 3.0);
        let ip: IpAddr = "192.0.2.1".parse().unwrap();
        assert!((0..3).all(|_| rate.allow(ip)));
        assert!(!rate.allow(ip));
        assert!(rate.allow("192.0.2.2".parse().unwrap()), "per address");
        tokio::time::advance(std::time::Duration::from_millis(500)).await;
        assert!(rate.allow(ip));
        assert!(!rate.allow(ip));
    }
}
