//! The faults, each injected into a running [`System`] under load and healed again, and what
//! each one is allowed to cost the HTTP clients (see [`Scenario::expect`]).

use std::fmt;
use std::time::Duration;

use crate::process::Service;
use crate::system::System;

/// A fault to inject.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Scenario {
    /// kill -9 nats-server, keep it down, restart it on the same ports with the same store.
    NatsRestart,
    /// Stop PostgreSQL (fast shutdown, as `pg_ctl stop`), keep it down 10 s, start it again.
    PgRestart,
    /// kill -9 the orders service, restart it.
    OrdersKill,
    /// SIGTERM the orders service (it drains), restart it.
    OrdersTerm,
    /// kill -9 the inventory service three times, restarting it each time.
    InventoryKill,
    /// SIGTERM the inventory service three times, restarting it each time.
    InventoryTerm,
    /// kill -9 gateway A (its clients fail over to B), restart it.
    GatewayKill,
    /// SIGTERM gateway A (it drains: clients are told to reconnect, and go to B), restart it.
    GatewayTerm,
    /// Pause gateway A's NATS link (bytes held), resume; then cut it (connections reset),
    /// restore.
    GatewayPartition,
    /// Every scenario above, in that order.
    All,
}

/// How long nats-server stays dead.
const NATS_DOWN: Duration = Duration::from_secs(6);
/// How long PostgreSQL stays stopped.
const PG_DOWN: Duration = Duration::from_secs(10);
/// How long orders stays dead.
const ORDERS_DOWN: Duration = Duration::from_secs(2);
/// How long inventory stays dead each time, and how long it runs between two faults.
const INVENTORY_DOWN: Duration = Duration::from_secs(1);
const INVENTORY_UP: Duration = Duration::from_secs(2);
const INVENTORY_FAULTS: usize = 3;
/// How long gateway A stays dead (its clients are on B by then).
const GATEWAY_DOWN: Duration = Duration::from_secs(3);
/// How long gateway A's NATS link is paused, then cut.
const LINK_PAUSED: Duration = Duration::from_secs(8);
const LINK_HEALED: Duration = Duration::from_secs(2);
const LINK_CUT: Duration = Duration::from_secs(5);
/// Time a SIGTERMed service gets to drain before SIGKILL (Kubernetes' default grace).
const TERM_GRACE: Duration = Duration::from_secs(30);
/// The slowest reservation allowed after inventory crashes (issue 19).
pub const RESERVATION_BOUND: Duration = Duration::from_secs(5);
/// The slowest `/readyz` answer allowed while a dependency is down (issue 19).
pub const READYZ_BOUND: Duration = Duration::from_secs(1);

/// What a scenario may cost, beyond the clients' verdict that holds for all.
#[derive(Clone, Copy, Debug, Default)]
pub struct Expect {
    /// Requests may get no answer (orders is down for a while).
    pub transport_failures: bool,
    /// Requests may get `503 database_unavailable` (and no other failure).
    pub unavailable: bool,
    /// The slowest reservation must stay within this.
    pub reservation_bound: Option<Duration>,
    /// `/readyz` must answer within [`READYZ_BOUND`] every time, and say unready at least once.
    pub readyz_bound: bool,
    /// orders and inventory must never answer `/readyz` with "not ready".
    pub always_ready: bool,
}

/// How a SIGTERM went, for the round's notes.
fn terminated(name: &str, outcome: (Duration, bool)) -> String {
    let (took, killed) = outcome;
    if killed {
        format!("{name} did not exit within {TERM_GRACE:?} of SIGTERM; killed")
    } else {
        format!("{name} exited {:.2}s after SIGTERM", took.as_secs_f64())
    }
}

impl Scenario {
    /// The concrete scenarios `self` stands for (`All` expands).
    pub fn expand(self) -> Vec<Scenario> {
        match self {
            Scenario::All => vec![
                Scenario::NatsRestart,
                Scenario::PgRestart,
                Scenario::OrdersKill,
                Scenario::OrdersTerm,
                Scenario::InventoryKill,
                Scenario::InventoryTerm,
                Scenario::GatewayKill,
                Scenario::GatewayTerm,
                Scenario::GatewayPartition,
            ],
            one => vec![one],
        }
    }

    /// Whether the round needs a PostgreSQL server of its own (one it may stop).
    pub fn own_postgres(self) -> bool {
        self == Scenario::PgRestart
    }

    /// What the fault may cost.
    pub fn expect(self) -> Expect {
        match self {
            Scenario::OrdersKill | Scenario::OrdersTerm => Expect {
                transport_failures: true,
                ..Expect::default()
            },
            Scenario::PgRestart => Expect {
                unavailable: true,
                readyz_bound: true,
                ..Expect::default()
            },
            Scenario::InventoryKill | Scenario::InventoryTerm => Expect {
                reservation_bound: Some(RESERVATION_BOUND),
                ..Expect::default()
            },
            Scenario::NatsRestart => Expect {
                always_ready: true,
                ..Expect::default()
            },
            _ => Expect::default(),
        }
    }

    /// Injects the fault and heals it; returns once every process is ready again, with notes
    /// on how it went.
    pub async fn inject(self, system: &mut System) -> anyhow::Result<Vec<String>> {
        let mut notes = Vec::new();
        match self {
            Scenario::NatsRestart => {
                step("kill -9 nats-server");
                system.nats.kill();
                tokio::time::sleep(NATS_DOWN).await;
                step("restart nats-server (same ports, same store)");
                system.nats.restart().await;
            }
            Scenario::PgRestart => {
                let mut postgres = system
                    .postgres
                    .take()
                    .ok_or_else(|| anyhow::anyhow!("pg-restart needs its own PostgreSQL"))?;
                step("stop PostgreSQL (fast shutdown)");
                let mut postgres = tokio::task::spawn_blocking(move || {
                    postgres.stop_in_place();
                    postgres
                })
                .await?;
                tokio::time::sleep(PG_DOWN).await;
                step("start PostgreSQL again (same port, same data)");
                let postgres =
                    tokio::task::spawn_blocking(move || postgres.start_again().map(|()| postgres))
                        .await??;
                system.postgres = Some(postgres);
            }
            Scenario::OrdersKill | Scenario::OrdersTerm => {
                let orders = &mut system.orders;
                self.bounce(orders, "orders", "", ORDERS_DOWN, &mut notes)
                    .await?;
            }
            Scenario::InventoryKill | Scenario::InventoryTerm => {
                for n in 1..=INVENTORY_FAULTS {
                    let which = format!(" ({n} of {INVENTORY_FAULTS})");
                    let inventory = &mut system.inventory;
                    self.bounce(inventory, "inventory", &which, INVENTORY_DOWN, &mut notes)
                        .await?;
                    tokio::time::sleep(INVENTORY_UP).await;
                }
            }
            Scenario::GatewayKill | Scenario::GatewayTerm => {
                let gateway = &mut system.gateway_a;
                self.bounce(gateway, "gateway A", "", GATEWAY_DOWN, &mut notes)
                    .await?;
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
        // Healed means serving again: every service answers /readyz.
        for service in [
            &mut system.orders,
            &mut system.inventory,
            &mut system.gateway_a,
            &mut system.gateway_b,
        ] {
            service.wait_ready().await?;
        }
        Ok(notes)
    }

    /// Stops `service`, with SIGTERM (its outcome noted) for the `*-term` scenarios and kill -9
    /// for the others, waits `down` and restarts it. `which` goes into the stop's step, e.g.
    /// ` (1 of 3)`.
    async fn bounce(
        self,
        service: &mut Service,
        name: &str,
        which: &str,
        down: Duration,
        notes: &mut Vec<String>,
    ) -> anyhow::Result<()> {
        if matches!(
            self,
            Scenario::OrdersTerm | Scenario::InventoryTerm | Scenario::GatewayTerm
        ) {
            step(&format!("SIGTERM {name}{which}"));
            notes.push(terminated(name, service.terminate(TERM_GRACE).await?));
        } else {
            step(&format!("kill -9 {name}{which}"));
            service.kill().await;
        }
        tokio::time::sleep(down).await;
        step(&format!("restart {name}"));
        service.restart().await
    }
}

impl fmt::Display for Scenario {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = match self {
            Scenario::NatsRestart => "nats-restart",
            Scenario::PgRestart => "pg-restart",
            Scenario::OrdersKill => "orders-kill",
            Scenario::OrdersTerm => "orders-term",
            Scenario::InventoryKill => "inventory-kill",
            Scenario::InventoryTerm => "inventory-term",
            Scenario::GatewayKill => "gateway-kill",
            Scenario::GatewayTerm => "gateway-term",
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
