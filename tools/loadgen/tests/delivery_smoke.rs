//! The delivery benchmark in small (300 connections, one round, short phases, both modes,
//! gateway with JSON and with MessagePack clients, nats-server WebSocket and floor), as a CI check of the benchmark and of delivery
//! itself: every system must open every connection, keep it, and deliver every event meant for
//! each client exactly as often as it was published, paced and at saturation. No ratio is
//! asserted: a CI machine is too noisy for that (the benchmark itself reports them).
//!
//! Which `gateway` binary: the one cargo built into this test's profile directory, as
//! `orderflow_loadgen::gateway::test_binary` explains (`cargo test --workspace` builds it first; alone:
//! `cargo build -p orderflow-gateway && cargo test -p orderflow-loadgen --test delivery_smoke`).
//! `ORDERFLOW_GATEWAY_BIN` names another binary.

use std::time::Duration;

use orderflow_loadgen::delivery::{self, DeliveryConfig, Mode, System};

const CONNECTIONS: usize = 300;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_system_delivers_every_event_per_customer_and_broadcast() {
    let modes = [Mode::PerCustomer, Mode::Broadcast];
    let systems = [
        System::Gateway,
        System::GatewayMp,
        System::Nats,
        System::Floor,
    ];
    let config = DeliveryConfig {
        connections: CONNECTIONS,
        per_customer: 1,
        // Per customer 1,000 events/s; broadcast ~3 events/s, each to all 300.
        rate: 1000,
        duration: Duration::from_secs(2),
        saturation: Duration::from_secs(1),
        rounds: 1,
        modes: modes.to_vec(),
        systems: systems.to_vec(),
        open_concurrency: 128,
        source_addrs: 8,
        warm_up: Duration::from_millis(200),
        settle: Duration::from_millis(300),
        gateway_bin: orderflow_loadgen::gateway::test_binary(),
        loadgen_bin: env!("CARGO_BIN_EXE_orderflow-loadgen").into(),
    };
    let report = delivery::run(&config).await.unwrap();

    for mode in modes {
        for system in systems {
            let turn = report
                .turns
                .iter()
                .find(|t| t.mode == mode && t.system == system)
                .unwrap();
            let f = match &turn.figures {
                Ok(f) => f,
                Err(e) => panic!("{mode} {system}: turn failed: {e}"),
            };
            let what = format!("{mode} {system}");
            assert_eq!(f.opened, CONNECTIONS, "{what}: {:?}", f.open_error);
            assert!(f.paced.published > 0, "{what}: nothing published");
            assert!(f.saturation.published > 0, "{what}: nothing flooded");
            assert_eq!(f.paced.delivered, f.paced.expected, "{what}: paced");
            assert_eq!(
                (f.missing, f.extra, f.closed, f.undated),
                (0, 0, 0, 0),
                "{what}: missing, extra, closed, undated"
            );
            assert!(f.latency_ms[1].is_finite(), "{what}: no latency recorded");
            assert!(f.bytes_per_delivery > 0.0, "{what}: no bytes counted");
            // The gateway's own part comes from its histogram, which only a gateway has.
            let is_gateway = matches!(system, System::Gateway | System::GatewayMp);
            assert_eq!(
                f.own_latency_ms.is_some(),
                is_gateway,
                "{what}: own latency"
            );
        }
        // The same deliveries, smaller in MessagePack (sizes, unlike times, are exact).
        let bytes = |system| {
            let turn = report
                .turns
                .iter()
                .find(|t| t.mode == mode && t.system == system);
            turn.and_then(|t| t.figures.as_ref().ok())
                .map(|f| f.bytes_per_delivery)
                .unwrap()
        };
        assert!(
            bytes(System::GatewayMp) < bytes(System::Gateway),
            "{mode}: MessagePack {} B per delivery, JSON {} B",
            bytes(System::GatewayMp),
            bytes(System::Gateway)
        );
    }
}
