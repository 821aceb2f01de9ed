//! A gateway on a runtime of its own, so the test can kill it abruptly: dropping the runtime
//! drops every task at once, closing all sockets and the NATS connection without the drain a
//! SIGTERM would trigger — for its clients and for NATS this looks like a crashed process.

use std::net::SocketAddr;
use std::sync::mpsc;

use orderflow_gateway::{Gateway, GatewaySettings};
use tokio::runtime::Runtime;

use crate::Error;

/// A running gateway that can be killed.
pub struct KillableGateway {
    addr: SocketAddr,
    runtime: Option<Runtime>,
}

impl KillableGateway {
    /// Builds the gateway (binds `settings.listen`, usually port 0) on a fresh two-thread
    /// runtime and starts serving. Blocks the calling thread only for the build.
    pub fn start(settings: GatewaySettings) -> Result<KillableGateway, Error> {
        let (tx, rx) = mpsc::channel();
        // A runtime cannot be built and blocked on from inside the test's own runtime, so the
        // build happens on a plain thread that hands the runtime back.
        std::thread::spawn(move || {
            let result = (|| {
                let runtime = tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(2)
                    .thread_name("gateway")
                    .enable_all()
                    .build()?;
                let gateway = runtime.block_on(Gateway::build(settings))?;
                let addr = gateway.local_addr();
                runtime.spawn(gateway.run(std::future::pending()));
                Ok::<_, Error>((addr, runtime))
            })();
            let _ = tx.send(result);
        });
        let (addr, runtime) = rx.recv().map_err(|_| Error::Vanished)??;
        Ok(KillableGateway {
            addr,
            runtime: Some(runtime),
        })
    }

    /// Where it listens.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Base URL (`http://127.0.0.1:port`).
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Kills it: every task and socket is dropped now, nothing is drained.
    pub fn kill(&mut self) {
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }

    /// False once killed.
    pub fn is_running(&self) -> bool {
        self.runtime.is_some()
    }
}

impl Drop for KillableGateway {
    fn drop(&mut self) {
        self.kill();
    }
}
