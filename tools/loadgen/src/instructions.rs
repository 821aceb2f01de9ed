//! Instructions per delivery under `valgrind --tool=callgrind`: a cost figure that noise on the
//! machine cannot move. The gateway runs under callgrind on a real nats-server with a few
//! per-customer clients; after they are connected the counters are zeroed, then events are
//! published one at a time, each waited for at its client, and the counters are dumped. The
//! total divided by the deliveries is the gateway's user-space instructions per delivery: NATS
//! parsing, routing, translation, the window, the WebSocket write and the runtime around them
//! (system calls count as the instructions that issue them, not what the kernel does).
//!
//! One delivery at a time keeps the path the same every time (no batching that depends on
//! timing), so two runs of the same binary agree closely; the timers that run whatever the load
//! (keep-alive pings, the feeds' stream checks) are set far beyond the run. Compared with a
//! budget, it catches a change that makes every delivery cost more, whatever the machine does.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use futures::StreamExt;
use orderflow_auth::dev::{self, DevClaims};
use tokio_tungstenite::tungstenite::Message;
use uuid::Uuid;

use crate::backend::Backend;
use crate::error::Error;
use crate::gateway::{GatewayProcess, Launch};
use crate::signalr::{self, HubProtocol, Record, Ws};
use crate::{publish, signalr::RS};

/// The budget of a release build (`cargo xtask bench instructions`): the figure recorded in
/// docs/benchmarks.md plus a margin for toolchain and dependency updates. A change that needs
/// more says why in its commit and raises it.
pub const RELEASE_BUDGET: f64 = 26_000.0;

/// What to measure.
#[derive(Clone, Debug)]
pub struct InstructionsConfig {
    /// Events published (one delivery each).
    pub events: usize,
    /// Customers, one connection each; events go to them in turn.
    pub clients: usize,
    /// The `gateway` binary.
    pub gateway_bin: PathBuf,
    /// Keep callgrind's dump here (for `callgrind_annotate`); `None`: a scratch directory,
    /// removed afterwards.
    pub keep_in: Option<PathBuf>,
}

/// The measurement.
#[derive(Clone, Copy, Debug)]
pub struct InstructionsReport {
    /// Deliveries counted.
    pub deliveries: usize,
    /// Instructions the gateway executed meanwhile (callgrind's `Ir`).
    pub instructions: u64,
}

impl InstructionsReport {
    /// Instructions per delivery.
    pub fn per_delivery(&self) -> f64 {
        self.instructions as f64 / self.deliveries.max(1) as f64
    }
}

/// Runs the measurement (minutes for a release build is a lot; seconds is usual).
pub async fn run(cfg: &InstructionsConfig) -> Result<InstructionsReport, Error> {
    let backend = Backend::start(false).await?;
    let scratch = match &cfg.keep_in {
        Some(dir) => dir.clone(),
        None => std::env::temp_dir().join(format!("loadgen-callgrind-{}", std::process::id())),
    };
    std::fs::create_dir_all(&scratch)?;
    let out = scratch.join("callgrind.out");
    let addr = SocketAddr::new(
        IpAddr::V4(Ipv4Addr::LOCALHOST),
        orderflow_test_support::free_port(),
    );
    let how = Launch {
        wrapper: vec![
            "valgrind".into(),
            "--tool=callgrind".into(),
            format!("--callgrind-out-file={}", out.display()),
        ],
        // Timers that run whatever the load, out of the way of the measurement.
        env: vec![
            ("GATEWAY_KEEP_ALIVE".into(), "1h".into()),
            ("GATEWAY_TAIL_CHECK".into(), "1h".into()),
        ],
        ready_within: Duration::from_secs(180),
    };
    let gateway = GatewayProcess::launch(
        &cfg.gateway_bin,
        addr,
        &backend.url(),
        1,
        scratch.join("gateway.log"),
        &how,
    )
    .await?;
    let customers: Vec<Uuid> = (0..cfg.clients.max(1)).map(|_| Uuid::now_v7()).collect();
    let http = orderflow_runtime::http::client();
    let mut clients = Vec::new();
    for (i, customer) in customers.iter().enumerate() {
        let jwt = dev::issue_hs256(dev::SECRET, DevClaims::new(*customer));
        clients.push(
            signalr::open(
                i,
                Ipv4Addr::LOCALHOST.into(),
                addr,
                &http,
                &jwt,
                None,
                HubProtocol::Json,
            )
            .await?,
        );
    }
    callgrind_control(&["--zero"], gateway.pid())?;
    for i in 0..cfg.events {
        let c = i % clients.len();
        let sequence = publish::one(&backend.js, customers[c]).await?;
        wait_for(&mut clients[c], sequence).await?;
    }
    callgrind_control(&["--dump"], gateway.pid())?;
    let instructions = newest_total(&scratch)?;
    drop(gateway);
    if cfg.keep_in.is_none() {
        let _ = std::fs::remove_dir_all(&scratch);
    }
    Ok(InstructionsReport {
        deliveries: cfg.events,
        instructions,
    })
}

/// Reads frames until the update at `sequence` arrived.
async fn wait_for(ws: &mut Ws, sequence: u64) -> Result<(), Error> {
    let fail = |why: String| Error::Gateway(format!("waiting for ORDERS:{sequence}: {why}"));
    loop {
        let frame = tokio::time::timeout(Duration::from_secs(60), ws.next())
            .await
            .map_err(|_| fail("timed out".into()))?;
        match frame {
            Some(Ok(Message::Text(text))) => {
                for record in text.as_str().split(RS).filter(|r| !r.is_empty()) {
                    if signalr::classify(record) == (Record::OrderEvent { sequence }) {
                        return Ok(());
                    }
                }
            }
            Some(Ok(_)) => {}
            Some(Err(e)) => return Err(fail(e.to_string())),
            None => return Err(fail("connection closed".into())),
        }
    }
}

fn callgrind_control(args: &[&str], pid: u32) -> Result<(), Error> {
    let status = Command::new("callgrind_control")
        .args(args)
        .arg(pid.to_string())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .map_err(|e| Error::Gateway(format!("callgrind_control (Debian: valgrind): {e}")))?;
    if status.success() {
        Ok(())
    } else {
        Err(Error::Gateway(format!(
            "callgrind_control {args:?} failed: {status}"
        )))
    }
}

/// The `totals:` line of the newest dump in `dir` (a dump since the last zeroing).
fn newest_total(dir: &Path) -> Result<u64, Error> {
    let newest = std::fs::read_dir(dir)?
        .filter_map(Result::ok)
        .filter(|e| e.file_name().to_string_lossy().starts_with("callgrind.out"))
        .max_by_key(|e| e.metadata().and_then(|m| m.modified()).ok())
        .ok_or_else(|| Error::Gateway("callgrind wrote no dump".into()))?;
    let text = std::fs::read_to_string(newest.path())?;
    parse_total(&text).ok_or_else(|| Error::Gateway("no totals in the callgrind dump".into()))
}

fn parse_total(dump: &str) -> Option<u64> {
    dump.lines()
        .find_map(|l| {
            l.strip_prefix("totals:")
                .or_else(|| l.strip_prefix("summary:"))
        })
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_total_of_a_dump() {
        let dump =
            "version: 1\ncreator: callgrind-3.19.0\nevents: Ir\nfn=main\n1 5\ntotals: 123456\n";
        assert_eq!(parse_total(dump), Some(123_456));
        assert_eq!(parse_total("summary: 42\n"), Some(42));
        assert_eq!(parse_total("events: Ir\n"), None);
    }
}
