//! The processes of one delivery turn, started fresh for it and stopped after it: nats-server
//! with the real streams and a WebSocket listener (the same configuration in every turn; the
//! listener is idle unless nats-server's own clients are measured), plus the gateway or the
//! floor on it. A fresh process per turn makes "memory before connections" mean the same thing
//! every time: freed memory of an earlier turn would otherwise be reused and hide the cost.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use super::{DeliveryConfig, Mode, System};
use crate::backend::Backend;
use crate::error::Error;
use crate::floor::FloorProcess;
use crate::gateway::GatewayProcess;
use crate::histogram::Buckets;
use crate::procfs;

/// A turn's servers; dropping them stops them (the gateway or floor first).
pub(crate) struct Servers {
    gateway: Option<GatewayProcess>,
    floor: Option<FloorProcess>,
    pub backend: Backend,
}

impl Servers {
    /// Starts nats-server and, for the gateway's and the floor's turns, that server on it.
    pub(crate) async fn start(
        cfg: &DeliveryConfig,
        mode: Mode,
        system: System,
    ) -> Result<Servers, Error> {
        let backend = Backend::start(true).await?;
        let localhost = || {
            SocketAddr::new(
                IpAddr::V4(Ipv4Addr::LOCALHOST),
                orderflow_test_support::free_port(),
            )
        };
        let mut servers = Servers {
            gateway: None,
            floor: None,
            backend,
        };
        match system {
            System::Gateway | System::GatewayMp => {
                let log = std::env::temp_dir()
                    .join(format!("loadgen-gateway-{}.log", std::process::id()));
                // Broadcast clients are admins with a user each; per customer, a customer's
                // connections share its user.
                let per_user = match mode {
                    Mode::PerCustomer => cfg.per_customer,
                    Mode::Broadcast => 1,
                };
                let url = servers.backend.url();
                servers.gateway = Some(
                    GatewayProcess::start(&cfg.gateway_bin, localhost(), &url, per_user, log)
                        .await?,
                );
            }
            System::Floor => {
                let url = servers.backend.url();
                servers.floor =
                    Some(FloorProcess::start(&cfg.loadgen_bin, localhost(), Some(&url)).await?);
            }
            System::Nats => {}
        }
        Ok(servers)
    }

    /// Where this turn's clients connect.
    pub(crate) fn addr(&self) -> Result<SocketAddr, Error> {
        if let Some(g) = &self.gateway {
            return Ok(g.addr());
        }
        if let Some(f) = &self.floor {
            return Ok(f.addr());
        }
        self.backend
            .websocket_addr()
            .ok_or_else(|| Error::Nats("no WebSocket listener".into()))
    }

    /// The processes whose CPU and memory count for the turn: the system's own process first
    /// (gateway, floor, or nats-server for its own clients), then its nats-server.
    pub(crate) fn pids(&self) -> Vec<(&'static str, u32)> {
        let mut pids = Vec::new();
        pids.extend(self.gateway.as_ref().map(|g| ("gateway", g.pid())));
        pids.extend(self.floor.as_ref().map(|f| ("floor", f.pid())));
        pids.extend(self.backend.pid().map(|p| ("nats-server", p)));
        pids
    }

    /// The gateway's delivery-latency histogram as of now, if this turn has a gateway.
    pub(crate) async fn gateway_latency(&self) -> Result<Option<Buckets>, Error> {
        match &self.gateway {
            Some(g) => g.delivery_latency().await.map(Some),
            None => Ok(None),
        }
    }

    /// Where the gateway logs, if this turn has one.
    pub(crate) fn gateway_log(&self) -> Option<&std::path::Path> {
        self.gateway.as_ref().map(|g| g.log.as_path())
    }
}

/// Resident memory of each process, in KiB, in order.
pub(crate) fn rss(pids: &[(&'static str, u32)]) -> Result<Vec<u64>, Error> {
    pids.iter().map(|(_, pid)| procfs::rss_kib(*pid)).collect()
}

/// CPU seconds of each process, in order.
pub(crate) fn cpu(pids: &[(&'static str, u32)]) -> Result<Vec<f64>, Error> {
    pids.iter()
        .map(|(_, pid)| procfs::cpu_seconds(*pid))
        .collect()
}
