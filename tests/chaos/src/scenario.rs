//! The faults, each injected into a running [`System`] under load and healed again.

use std::fmt;
use std::time::Duration;

use crate::system::System;

/// A fault to inject.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Scenario {
    /// kill -9 nats-server, keep it down, restart it on the same ports with the same store.
    NatsRestart,
    /// kill -9 the orders service, restart it.
    OrdersKill,
    /// kill -9 gateway A (its clients fail over to B), restart it.
    GatewayKill,
    /// Pause gateway A's NATS link (bytes held), resume; then cut it (connections reset),
    /// restore.
    GatewayPartition,
    /// Every scenario above, in that order.
    All,
}

/// How long nats-server stays dead.
const NATS_DOWN: Duration = Duration::from_secs(6);
/// How long orders stays dead.
const ORDERS_DOWN: Duration = Duration::from_secs(2);
/// How long gateway A stays dead (its clients are on B by then).
const GATEWAY_DOWN: Duration = Duration::from_secs(3);
/// How long gateway A's NATS link is paused, then cut.
const LINK_PAUSED: Duration = Duration::from_secs(8);
const LINK_HEALED: Duration = Duration::from_secs(2);
const LINK_CUT: Duration = Duration::from_secs(5);

impl Scenario {
    /// The concrete scenarios `self` stands for (`All` expands).
    pub fn expand(self) -> Vec<Scenario> {
        match self {
            Scenario::All => vec![
                Scenario::NatsRestart,
                Scenario::OrdersKill,
                Scenario::GatewayKill,
                Scenario::GatewayPartition,
            ],
            one => vec![one],
        }
    }

    /// Injects the fault and heals it; returns once every process is ready again.
    pub async fn inject(self, system: &mut System) -> anyhow::Result<()> {
        match self {
            Scenario::NatsRestart => {
                step("kill -9 nats-server");
                system.nats.kill();
                tokio::time::sleep(NATS_DOWN).await;
                step("restart nats-server (same ports, same store)");
                system.nats.restart().await;
            }
            Scenario::OrdersKill => {
                step("kill -9 orders");
                system.orders.kill().await;
                tokio::time::sleep(ORDERS_DOWN).await;
                step("restart orders");
                system.orders.restart().await?;
            }
            Scenario::GatewayKill => {
                step("kill -9 gateway A");
                system.gateway_a.kill().await;
                tokio::time::sleep(GATEWAY_DOWN).await;
                step("restart gateway A");
                system.gateway_a.restart().await?;
            }
            Scenario::GatewayPartition => {
                step("pause gateway A's NATS link");
                system.link_a.pause();
                tokio::time::sleep(LINK_PAUSED).await;
                step("resume gateway A's NATS link");
                system.link_a.resume();
                tokio::time::sleep(LINK_HEALED).await;
                step("cut gateway A's NATS link");
                system.link_a.cut();
                tokio::time::sleep(LINK_CUT).await;
                step("restore gateway A's NATS link");
                system.link_a.restore();
            }
            Scenario::All => anyhow::bail!("`all` is expanded before running"),
        }
        // Healed means serving again: every service answers /readyz (NATS reachable).
        for service in [
            &mut system.orders,
            &mut system.inventory,
            &mut system.gateway_a,
            &mut system.gateway_b,
        ] {
            service.wait_ready().await?;
        }
        Ok(())
    }
}

impl fmt::Display for Scenario {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = match self {
            Scenario::NatsRestart => "nats-restart",
            Scenario::OrdersKill => "orders-kill",
            Scenario::GatewayKill => "gateway-kill",
            Scenario::GatewayPartition => "gateway-partition",
            Scenario::All => "all",
        };
        f.write_str(name)
    }
}

/// Progress goes to stderr, so stdout holds only the table.
pub fn step(what: &str) {
    eprintln!("  [{}] {what}", crate::clock());
}
